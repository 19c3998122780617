// Package evaluatorpb holds the Go code generated from ../evaluator.proto
// (package qwentune.evaluators.v1). Do not edit the .pb.go files; see
// ../generate.go for how to regenerate them.
package evaluatorpb
