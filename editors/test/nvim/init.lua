-- A headless Neovim as an editor user has it: `*.probity` files attach `probity lsp` (the binary
-- in $PROBITY), and the first diagnostics the server publishes are written to $OUT as JSON, one
-- record a line: {code, line, col, message}, then the hover at $HOVER ("line:character", 0-based)
-- as {hover}. Then Neovim quits. Works with Neovim 0.7 and later.
local probity = os.getenv("PROBITY") or "probity"
local out = assert(os.getenv("OUT"), "set OUT to the file to write")

vim.filetype = vim.filetype or {}
vim.cmd([[autocmd BufRead,BufNewFile *.probity setfiletype probity]])

local function finish(lines)
  local f = assert(io.open(out, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  vim.cmd("qall!")
end

vim.api.nvim_create_autocmd("FileType", {
  pattern = "probity",
  callback = function(args)
    local root = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(args.buf), ":p:h")
    local client = vim.lsp.start_client({ name = "probity", cmd = { probity, "lsp" }, root_dir = root })
    vim.lsp.buf_attach_client(args.buf, client)
  end,
})

vim.api.nvim_create_autocmd("DiagnosticChanged", {
  callback = function()
    local lines = {}
    for _, d in ipairs(vim.diagnostic.get(0)) do
      local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
      table.insert(lines, vim.fn.json_encode({ code = code, line = d.lnum, col = d.col, message = d.message }))
    end
    if #lines == 0 then
      return
    end
    local at = vim.split(os.getenv("HOVER") or "0:0", ":")
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(0) },
      position = { line = tonumber(at[1]), character = tonumber(at[2]) },
    }
    local answers = vim.lsp.buf_request_sync(0, "textDocument/hover", params, 5000) or {}
    for _, answer in pairs(answers) do
      local contents = answer.result and answer.result.contents
      table.insert(lines, vim.fn.json_encode({ hover = contents and contents.value or vim.NIL }))
    end
    finish(lines)
  end,
})

-- Never hang a test run: give up after 20 seconds.
vim.defer_fn(function()
  finish({ "timeout: no diagnostics from probity lsp" })
end, 20000)
