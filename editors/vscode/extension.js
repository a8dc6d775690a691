// The VS Code client of the policylang language server: starts `policylang lsp` (or the
// command in the `policylang.command` setting) over stdio for .pol and .polt files.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const configured = vscode.workspace.getConfiguration("policylang").get("command") || ["policylang", "lsp"];
  const [command, ...args] = configured;
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "policylang" },
      { scheme: "file", language: "policylang-scenario" },
    ],
  };
  client = new LanguageClient("policylang", "policylang", serverOptions, clientOptions);
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
