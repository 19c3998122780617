// Command badversion is a test evaluator that speaks evaluator protocol
// version 2 while the host speaks version 1.
package main

import (
	"github.com/hashicorp/go-plugin"

	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/internal/testplugins"
)

func main() {
	handshake := evaluators.Handshake
	handshake.ProtocolVersion = 2
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins: map[string]plugin.Plugin{
			evaluators.PluginName: &evaluators.GRPCPlugin{Impl: testplugins.Base{Name: "badversion"}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
