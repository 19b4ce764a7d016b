// Starts `probity lsp` for Probity policy files: diagnostics, quick fixes, hover, definition,
// references, completion, formatting and the outline come from the server.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function serverPath() {
  return vscode.workspace.getConfiguration("probity").get("server.path") || "probity";
}

async function start(context) {
  const command = serverPath();
  client = new LanguageClient(
    "probity",
    "Probity",
    { run: { command, args: ["lsp"] }, debug: { command, args: ["lsp"] } },
    {
      documentSelector: [{ scheme: "file", language: "probity" }],
      // The set is every policy file of the folder: tell the server when one changes on disk.
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.probity") },
    },
  );
  try {
    await client.start();
  } catch (e) {
    vscode.window.showErrorMessage(
      `Probity: cannot start \`${command} lsp\` (${e.message}). Set "probity.server.path" to the probity binary.`,
    );
  }
  context.subscriptions.push(client);
}

async function activate(context) {
  await start(context);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("probity.server.path")) {
        if (client) await client.stop();
        await start(context);
      }
    }),
  );
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
