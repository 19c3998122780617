package evaluators

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "qwentune/plugins/evaluators/evaluatorpb"
)

// GRPCPlugin is the go-plugin glue for an Evaluator: on the plugin side it
// serves Impl over gRPC, on the host side it dispenses a gRPC client that
// implements Evaluator.
type GRPCPlugin struct {
	// Plugin is embedded only to satisfy plugin.Plugin; net/rpc is not
	// offered, so its methods are never called.
	plugin.Plugin
	// Impl is the evaluator served; nil on the host side.
	Impl Evaluator
}

// GRPCServer registers Impl on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("evaluators: GRPCPlugin.Impl is nil")
	}
	pb.RegisterEvaluatorServer(s, &grpcServer{impl: p.Impl, broker: broker})
	return nil
}

// GRPCClient returns a ModelEvaluator that calls the plugin over c and
// serves generators to it over broker.
func (p *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &grpcClient{client: pb.NewEvaluatorClient(c), broker: broker}, nil
}

// Serve runs impl as an evaluator plugin and returns when the host closes
// it. It is the whole body of an evaluator's main function. Run by hand
// (without the host's magic cookie) it prints a short explanation and exits.
func Serve(impl Evaluator) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]plugin.Plugin{PluginName: &GRPCPlugin{Impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// grpcServer adapts an Evaluator to the generated gRPC server interface. A
// panic in the evaluator becomes an Internal error for that call instead of
// killing the plugin.
type grpcServer struct {
	pb.UnimplementedEvaluatorServer
	impl   Evaluator
	broker *plugin.GRPCBroker
}

func recoverPanic(method string, err *error) {
	if r := recover(); r != nil {
		*err = status.Errorf(codes.Internal, "%s panicked: %v\n%s", method, r, debug.Stack())
	}
}

func (s *grpcServer) Info(ctx context.Context, _ *pb.InfoRequest) (resp *pb.InfoResponse, err error) {
	defer recoverPanic("Info", &err)
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	resp = &pb.InfoResponse{
		Name:        info.Name,
		Version:     info.Version,
		Description: info.Description,
		Labels:      info.Labels,
	}
	for _, st := range info.Settings {
		resp.Settings = append(resp.Settings, &pb.Setting{Name: st.Name, Default: st.Default, Description: st.Description})
	}
	return resp, nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (resp *pb.ConfigureResponse, err error) {
	defer recoverPanic("Configure", &err)
	if err := s.impl.Configure(ctx, req.GetSettings()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *grpcServer) Judge(ctx context.Context, req *pb.JudgeRequest) (resp *pb.JudgeResponse, err error) {
	defer recoverPanic("Judge", &err)
	samples := make([]Sample, len(req.GetSamples()))
	for i, x := range req.GetSamples() {
		samples[i] = Sample{
			ID:            x.GetId(),
			Input:         x.GetInput(),
			Output:        x.GetOutput(),
			Reference:     x.GetReference(),
			ExpectedLabel: x.GetExpectedLabel(),
		}
	}
	verdicts, err := judgeWithBroker(ctx, s.impl, s.broker, req.GetGenerator(), samples)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	resp = &pb.JudgeResponse{Verdicts: make([]*pb.Verdict, len(verdicts))}
	for i, v := range verdicts {
		resp.Verdicts[i] = &pb.Verdict{Id: v.ID, Label: v.Label, Score: v.Score, Reason: v.Reason}
	}
	return resp, nil
}

// grpcClient is the host-side Evaluator speaking to a plugin.
type grpcClient struct {
	client pb.EvaluatorClient
	broker *plugin.GRPCBroker
}

// remoteError turns a gRPC status into an error carrying the plugin's own
// message (the caller names the method), so users read "unknown setting" rather than "rpc error: code = ...".
func remoteError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	case codes.Unavailable:
		return fmt.Errorf("%w: %s", ErrUnavailable, st.Message())
	}
	return errors.New(st.Message())
}

// ErrUnavailable marks a call that failed because the plugin process or its
// connection went away.
var ErrUnavailable = errors.New("plugin unavailable")

func (c *grpcClient) Info(ctx context.Context) (Info, error) {
	resp, err := c.client.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, remoteError(err)
	}
	info := Info{
		Name:        resp.GetName(),
		Version:     resp.GetVersion(),
		Description: resp.GetDescription(),
		Labels:      resp.GetLabels(),
	}
	for _, s := range resp.GetSettings() {
		info.Settings = append(info.Settings, Setting{Name: s.GetName(), Default: s.GetDefault(), Description: s.GetDescription()})
	}
	return info, nil
}

func (c *grpcClient) Configure(ctx context.Context, settings map[string]string) error {
	if _, err := c.client.Configure(ctx, &pb.ConfigureRequest{Settings: settings}); err != nil {
		return remoteError(err)
	}
	return nil
}

func (c *grpcClient) Judge(ctx context.Context, samples []Sample) ([]Verdict, error) {
	return c.judge(ctx, samples, 0)
}

// judge sends one Judge request; generator is the broker id of a Generator
// the host serves meanwhile, 0 for none.
func (c *grpcClient) judge(ctx context.Context, samples []Sample, generator uint32) ([]Verdict, error) {
	req := &pb.JudgeRequest{Samples: make([]*pb.Sample, len(samples)), Generator: generator}
	for i, s := range samples {
		req.Samples[i] = &pb.Sample{
			Id:            s.ID,
			Input:         s.Input,
			Output:        s.Output,
			Reference:     s.Reference,
			ExpectedLabel: s.ExpectedLabel,
		}
	}
	resp, err := c.client.Judge(ctx, req)
	if err != nil {
		return nil, remoteError(err)
	}
	verdicts := make([]Verdict, len(resp.GetVerdicts()))
	for i, v := range resp.GetVerdicts() {
		verdicts[i] = Verdict{ID: v.GetId(), Label: v.GetLabel(), Score: v.GetScore(), Reason: v.GetReason()}
	}
	return verdicts, nil
}
