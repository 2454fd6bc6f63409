//! A scripted MongoDB wire-protocol (OP_MSG) server on 127.0.0.1, so the store's driver
//! calls can be exercised without MongoDB: it answers the handshake as a replica set
//! primary (or a standalone server), records every command, and lets a test script the
//! reply to each.
//!
//! It checks nothing a real server checks: it proves what the store *sends* and how it
//! reacts to documented replies, not what a server would do.

use std::sync::{Arc, Mutex};

use bson::{doc, Bson, Document};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers a command, or `None` for the default reply.
pub type Script = dyn Fn(&Document) -> Option<Document> + Send + Sync;

#[derive(Clone)]
pub struct FakeServer {
    pub port: u16,
    commands: Arc<Mutex<Vec<Document>>>,
}

impl FakeServer {
    /// Starts a server; `replica_set` makes it a primary of set `rs0`.
    pub async fn start(replica_set: bool, script: Arc<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let server = Self {
            port,
            commands: commands.clone(),
        };
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (commands, script) = (commands.clone(), script.clone());
                tokio::spawn(serve(socket, port, replica_set, commands, script));
            }
        });
        server
    }

    pub fn url(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/?replicaSet=rs0&serverSelectionTimeoutMS=3000",
            self.port
        )
    }

    /// The recorded commands other than handshakes, in arrival order.
    pub fn commands(&self) -> Vec<Document> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The recorded commands named `name`.
    pub fn named(&self, name: &str) -> Vec<Document> {
        self.commands()
            .into_iter()
            .filter(|c| command_name(c) == name)
            .collect()
    }
}

pub fn command_name(command: &Document) -> String {
    command.keys().next().cloned().unwrap_or_default()
}

fn hello(port: u16, replica_set: bool) -> Document {
    let mut reply = doc! {
        "helloOk": true, "isWritablePrimary": true, "ismaster": true,
        "maxBsonObjectSize": 16_777_216, "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000,
        "localTime": bson::DateTime::now(), "logicalSessionTimeoutMinutes": 30, "connectionId": 1,
        "minWireVersion": 0, "maxWireVersion": 21, "ok": 1.0,
    };
    if replica_set {
        let me = format!("127.0.0.1:{port}");
        reply.insert("setName", "rs0");
        reply.insert("setVersion", 1);
        reply.insert("hosts", vec![Bson::String(me.clone())]);
        reply.insert("primary", me.clone());
        reply.insert("me", me);
        reply.insert(
            "electionId",
            bson::oid::ObjectId::parse_str("7fffffff0000000000000001").expect("oid"),
        );
    }
    reply
}

/// The reply when the script has none: empty cursors, successful writes.
fn default_reply(command: &Document) -> Document {
    let name = command_name(command);
    let ns = format!(
        "{}.{}",
        command.get_str("$db").unwrap_or("db"),
        command.get_str(&name).unwrap_or("coll")
    );
    match name.as_str() {
        "find" | "aggregate" | "listCollections" => {
            doc! { "cursor": { "firstBatch": [], "id": 0i64, "ns": ns }, "ok": 1.0 }
        }
        "insert" => {
            let n = command.get_array("documents").map_or(0, |d| d.len() as i32);
            doc! { "n": n, "ok": 1.0 }
        }
        "update" => doc! { "n": 1, "nModified": 1, "ok": 1.0 },
        "findAndModify" => doc! { "value": Bson::Null, "ok": 1.0 },
        _ => doc! { "ok": 1.0 },
    }
}

async fn serve(
    mut socket: TcpStream,
    port: u16,
    replica_set: bool,
    commands: Arc<Mutex<Vec<Document>>>,
    script: Arc<Script>,
) {
    loop {
        let mut header = [0u8; 16];
        if socket.read_exact(&mut header).await.is_err() {
            return;
        }
        let length = i32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
        let request_id = i32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
        let op_code = i32::from_le_bytes(header[12..16].try_into().unwrap_or_default());
        let mut body = vec![0u8; length.saturating_sub(16)];
        if socket.read_exact(&mut body).await.is_err() || op_code != 2013 {
            return;
        }
        let Some(command) = parse_op_msg(&body) else {
            return;
        };
        let name = command_name(&command).to_lowercase();
        let reply = if name == "hello" || name == "ismaster" {
            hello(port, replica_set)
        } else {
            commands
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(command.clone());
            script(&command).unwrap_or_else(|| default_reply(&command))
        };
        let mut payload = Vec::new();
        reply.to_writer(&mut payload).expect("reply encodes");
        let total = 16 + 4 + 1 + payload.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as i32).to_le_bytes());
        out.extend_from_slice(&1i32.to_le_bytes());
        out.extend_from_slice(&request_id.to_le_bytes());
        out.extend_from_slice(&2013i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.push(0);
        out.extend_from_slice(&payload);
        if socket.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The command of an OP_MSG body: the kind-0 document, with kind-1 document sequences
/// added under their identifiers.
fn parse_op_msg(body: &[u8]) -> Option<Document> {
    let mut at = 4; // flag bits
    let mut command: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<Bson>)> = Vec::new();
    while at < body.len() {
        let kind = body[at];
        at += 1;
        let size = i32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        match kind {
            0 => {
                command = Some(Document::from_reader(body.get(at..at + size)?).ok()?);
                at += size;
            }
            1 => {
                let end = at + size;
                let mut cursor = at + 4;
                let nul = body[cursor..end].iter().position(|b| *b == 0)?;
                let identifier = String::from_utf8(body[cursor..cursor + nul].to_vec()).ok()?;
                cursor += nul + 1;
                let mut documents = Vec::new();
                while cursor < end {
                    let doc_size =
                        i32::from_le_bytes(body.get(cursor..cursor + 4)?.try_into().ok()?) as usize;
                    documents.push(Bson::Document(
                        Document::from_reader(body.get(cursor..cursor + doc_size)?).ok()?,
                    ));
                    cursor += doc_size;
                }
                sequences.push((identifier, documents));
                at = end;
            }
            _ => return None,
        }
    }
    let mut command = command?;
    for (identifier, documents) in sequences {
        command.insert(identifier, documents);
    }
    Some(command)
}
