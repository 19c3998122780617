package evaluators

import (
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "qwentune/plugins/evaluators/evaluatorpb"
)

// Unjudged is the label of a verdict an evaluator could not reach (a judge
// model that answered nothing usable). The host keeps such samples out of
// the confusion matrix and every ratio and reports how many there were; an
// evaluator that may return it lists it in Info.Labels, after its own labels.
const Unjudged = "unjudged"

// Generator continues prompts with a model the host has loaded once for
// the whole evaluation (the base model, the fine-tune or another local
// model). The host offers it to evaluators that implement ModelEvaluator.
type Generator interface {
	Generate(ctx context.Context, req GenerateRequest) (GenerateResponse, error)
}

// Message is one turn of a conversation.
type Message struct {
	// Role is "system", "user" or "assistant".
	Role    string `json:"role"`
	Content string `json:"content"`
}

// GenerateRequest is what to continue and how.
type GenerateRequest struct {
	// Prompt is raw text continued as it is, without a chat template; it
	// is used when Messages is empty.
	Prompt string
	// Messages is a conversation rendered with the model's chat template
	// and its generation prompt.
	Messages []Message
	// MaxNewTokens bounds the answer in tokens; 0 lets the host choose.
	MaxNewTokens int
	// Temperature is the sampling temperature; 0 is greedy decoding.
	Temperature float64
	// Stop ends the answer before the first of these strings.
	Stop []string
}

// GenerateResponse is the model's answer.
type GenerateResponse struct {
	// Text is the generated text, cut before a stop string.
	Text string
	// FinishReason is "eos", "length" or "stop".
	FinishReason string
}

// ModelEvaluator is an Evaluator that asks a model. The plugin side calls
// JudgeWith instead of Judge, with the host's Generator, or nil when the
// host offers none. On the host side, the dispensed client implements it
// too: JudgeWith serves gen to the plugin for the length of the call.
type ModelEvaluator interface {
	Evaluator
	JudgeWith(ctx context.Context, samples []Sample, gen Generator) ([]Verdict, error)
}

// JudgeWith asks the plugin for verdicts while serving gen over the
// go-plugin broker (plain Judge when gen is nil). Plugins that do not
// implement ModelEvaluator ignore the broker id and just judge.
func (c *grpcClient) JudgeWith(ctx context.Context, samples []Sample, gen Generator) ([]Verdict, error) {
	if gen == nil {
		return c.judge(ctx, samples, 0)
	}
	id := c.broker.NextId()
	var (
		mu      sync.Mutex
		srv     *grpc.Server
		stopped bool
	)
	go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pb.RegisterGeneratorServer(s, &generatorServer{impl: gen})
		mu.Lock()
		defer mu.Unlock()
		srv = s
		if stopped {
			// Judge already returned: Serve on a stopped server returns at once.
			s.Stop()
		}
		return s
	})
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if srv != nil {
			srv.Stop()
		}
	}()
	return c.judge(ctx, samples, id)
}

// generatorServer serves the host's Generator to a plugin.
type generatorServer struct {
	pb.UnimplementedGeneratorServer
	impl Generator
}

func (s *generatorServer) Generate(ctx context.Context, req *pb.GenerateRequest) (resp *pb.GenerateResponse, err error) {
	defer recoverPanic("Generate", &err)
	r := GenerateRequest{
		Prompt:       req.GetPrompt(),
		MaxNewTokens: int(req.GetMaxNewTokens()),
		Temperature:  req.GetTemperature(),
		Stop:         req.GetStop(),
	}
	for _, m := range req.GetMessages() {
		r.Messages = append(r.Messages, Message{Role: m.GetRole(), Content: m.GetContent()})
	}
	out, err := s.impl.Generate(ctx, r)
	if err != nil {
		code := codes.Unknown
		switch {
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		}
		return nil, status.Error(code, err.Error())
	}
	return &pb.GenerateResponse{Text: out.Text, FinishReason: out.FinishReason}, nil
}

// generatorClient is the plugin's view of the host's Generator.
type generatorClient struct {
	client pb.GeneratorClient
}

func (g *generatorClient) Generate(ctx context.Context, r GenerateRequest) (GenerateResponse, error) {
	req := &pb.GenerateRequest{
		Prompt:       r.Prompt,
		MaxNewTokens: int32(min(max(r.MaxNewTokens, 0), 1<<30)),
		Temperature:  r.Temperature,
		Stop:         r.Stop,
	}
	for _, m := range r.Messages {
		req.Messages = append(req.Messages, &pb.Message{Role: m.Role, Content: m.Content})
	}
	resp, err := g.client.Generate(ctx, req)
	if err != nil {
		return GenerateResponse{}, remoteError(err)
	}
	return GenerateResponse{Text: resp.GetText(), FinishReason: resp.GetFinishReason()}, nil
}

// judgeWithBroker runs a Judge request on the plugin side: a ModelEvaluator
// gets a Generator dialled over the broker when the host offered one.
func judgeWithBroker(ctx context.Context, impl Evaluator, broker *plugin.GRPCBroker, id uint32, samples []Sample) ([]Verdict, error) {
	me, ok := impl.(ModelEvaluator)
	if !ok {
		return impl.Judge(ctx, samples)
	}
	if id == 0 || broker == nil {
		return me.JudgeWith(ctx, samples, nil)
	}
	conn, err := broker.Dial(id)
	if err != nil {
		return nil, errors.New("cannot reach the host's generator: " + err.Error())
	}
	defer conn.Close()
	return me.JudgeWith(ctx, samples, &generatorClient{client: pb.NewGeneratorClient(conn)})
}
