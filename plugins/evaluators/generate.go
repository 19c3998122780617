package evaluators

// The generated code in evaluatorpb is committed. To regenerate it after
// editing evaluator.proto, install the generators at the versions matching
// go.mod and run go generate (protoc must be on PATH):
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	go generate ./plugins/evaluators

//go:generate protoc --proto_path=. --go_out=. --go_opt=module=qwentune/plugins/evaluators --go-grpc_out=. --go-grpc_opt=module=qwentune/plugins/evaluators evaluator.proto
