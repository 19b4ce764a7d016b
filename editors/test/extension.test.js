// The VS Code extension starts `probity lsp` with the configured binary, for Probity files,
// and starts it again when the setting changes. `vscode` and the language client are stubbed:
// what is checked is what the extension asks of them.
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const Module = require("node:module");
const path = require("node:path");

test("the extension starts `probity lsp` with probity.server.path", async () => {
  const started = [];
  let setting = "/opt/probity/bin/probity";
  let onChange;
  const stubs = {
    vscode: {
      workspace: {
        getConfiguration: (section) => ({ get: (key) => (section === "probity" && key === "server.path" ? setting : undefined) }),
        createFileSystemWatcher: (glob) => ({ glob }),
        onDidChangeConfiguration: (f) => {
          onChange = f;
          return { dispose() {} };
        },
      },
      window: { showErrorMessage: (m) => assert.fail(m) },
    },
    "vscode-languageclient/node": {
      LanguageClient: class {
        constructor(id, name, server, options) {
          started.push({ id, server, options });
        }
        async start() {}
        async stop() {}
        dispose() {}
      },
    },
  };
  const load = Module._load;
  Module._load = (request, ...rest) => (request in stubs ? stubs[request] : load(request, ...rest));
  try {
    const extension = require(path.join(__dirname, "../vscode/extension.js"));
    const context = { subscriptions: [] };
    await extension.activate(context);
    assert.equal(started.length, 1);
    assert.deepEqual(started[0].server.run, { command: "/opt/probity/bin/probity", args: ["lsp"] });
    assert.deepEqual(started[0].options.documentSelector, [{ scheme: "file", language: "probity" }]);
    assert.deepEqual(started[0].options.synchronize.fileEvents, { glob: "**/*.probity" });
    setting = "";
    await onChange({ affectsConfiguration: (s) => s === "probity.server.path" });
    assert.equal(started.length, 2);
    assert.equal(started[1].server.run.command, "probity", "an empty setting means `probity` on PATH");
    await extension.deactivate();
  } finally {
    Module._load = load;
  }
});

test("the extension's manifest declares the setting and its entry point", () => {
  const manifest = require("../vscode/package.json");
  assert.equal(manifest.main, "./extension.js");
  assert.ok(manifest.activationEvents.includes("onLanguage:probity"));
  assert.equal(manifest.contributes.configuration.properties["probity.server.path"].default, "probity");
  assert.ok(manifest.dependencies["vscode-languageclient"]);
  assert.match(manifest.scripts.package, /^vsce package/);
});
