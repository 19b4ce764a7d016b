//! The stdio transport: LSP's `Content-Length` framing, read on one thread and written on
//! another, as lsp-server's own; but messages are read through a JSON value and built by hand,
//! since the workspace's serde_json (with `arbitrary_precision`, for exact decimals) cannot
//! read a number inside serde's untagged enums (lsp-server's message and request id).

use std::io::{self, BufRead, Write};
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response, ResponseError};
use serde_json::Value;

/// The largest message accepted (64 MiB: a policy file is at most a few MiB).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The reading and writing threads; join them after the connection is dropped.
pub struct IoThreads {
    reader: thread::JoinHandle<io::Result<()>>,
    writer: thread::JoinHandle<io::Result<()>>,
}

impl IoThreads {
    /// Waits for both threads; the first error either met.
    pub fn join(self) -> io::Result<()> {
        let reader = self.reader.join().unwrap_or_else(|_| Err(io::Error::other("the reader thread panicked")));
        let writer = self.writer.join().unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        reader.and(writer)
    }
}

/// A connection over this process's standard input and output.
pub fn stdio() -> (Connection, IoThreads) {
    let (writer_sender, writer_receiver): (Sender<Message>, Receiver<Message>) = bounded(0);
    let writer = thread::spawn(move || {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        for message in writer_receiver {
            message.write(&mut out)?;
        }
        out.flush()
    });
    let (reader_sender, reader_receiver) = bounded::<Message>(0);
    let reader = thread::spawn(move || {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        while let Some(message) = read_message(&mut input)? {
            let is_exit = matches!(&message, Message::Notification(n) if n.method == "exit");
            if reader_sender.send(message).is_err() || is_exit {
                break;
            }
        }
        Ok(())
    });
    (Connection { sender: writer_sender, receiver: reader_receiver }, IoThreads { reader, writer })
}

/// Reads one framed message; `None` at the end of the input.
pub fn read_message(input: &mut impl BufRead) -> io::Result<Option<Message>> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            if length.is_some() {
                break;
            }
            continue;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().map_err(|e| invalid(format!("bad Content-Length: {e}")))?);
            }
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_MESSAGE_BYTES {
        return Err(invalid(format!("a message of {length} bytes is more than the limit of {MAX_MESSAGE_BYTES}")));
    }
    let mut body = vec![0u8; length];
    input.read_exact(&mut body)?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| invalid(format!("malformed message: {e}")))?;
    message_of(value).map(Some).ok_or_else(|| invalid("not a JSON-RPC request, response or notification".into()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A request id: a number (within `i32`, as lsp-server keeps them) or a string.
fn request_id(value: &Value) -> Option<RequestId> {
    match value {
        Value::String(s) => Some(RequestId::from(s.clone())),
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).map(RequestId::from),
        _ => None,
    }
}

/// The message a JSON-RPC object is.
pub fn message_of(mut value: Value) -> Option<Message> {
    let object = value.as_object_mut()?;
    let params = object.remove("params").unwrap_or(Value::Null);
    let method = object.get("method").and_then(Value::as_str).map(str::to_string);
    let id = object.get("id").and_then(request_id);
    Some(match (method, id) {
        (Some(method), Some(id)) => Message::Request(Request { id, method, params }),
        (Some(method), None) => Message::Notification(Notification { method, params }),
        (None, Some(id)) => {
            let error = object.get("error").map(|e| ResponseError {
                code: e.get("code").and_then(Value::as_i64).and_then(|c| i32::try_from(c).ok()).unwrap_or(0),
                message: e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
                data: e.get("data").cloned(),
            });
            let result = match error {
                Some(error) => Err(error),
                None => Ok(object.remove("result").unwrap_or(Value::Null)),
            };
            Message::Response(Response { id, response_result: result })
        }
        (None, None) => return None,
    })
}
