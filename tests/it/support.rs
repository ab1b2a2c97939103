//! Starting the binary and talking to it.

use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The binary under test: this build's, or the one `PRECONF_TEST_BIN` names (for example a
/// release build: `PRECONF_TEST_BIN=target/release/preconf-node cargo test --test it`).
pub(crate) fn bin() -> Command {
    match std::env::var_os("PRECONF_TEST_BIN") {
        Some(path) => Command::new(path),
        None => Command::new(env!("CARGO_BIN_EXE_preconf-node")),
    }
}

/// A running node process; killed on drop.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) rpc: SocketAddr,
    pub(crate) engine: SocketAddr,
    pub(crate) metrics: SocketAddr,
    /// The flashblock stream, when the node is a sequencer.
    pub(crate) flashblocks: Option<SocketAddr>,
    /// The payload server, when the node is a sequencer.
    pub(crate) payload_server: Option<SocketAddr>,
    /// The node's output; kept so the reader threads keep draining the pipes.
    log: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts the binary with these arguments (every port not given is 0, unless a `--config`
    /// file sets them) and waits until its servers listen. A `consensus` process serves only
    /// metrics; its `rpc` and `engine` are that address too.
    pub(crate) fn start(args: &[&str]) -> Proc {
        Self::start_command(bin(), args)
    }

    /// [`start`](Self::start) with a command of the caller's: the binary behind a wrapper, or
    /// with its own environment; `args` and the free ports are appended to it.
    pub(crate) fn start_command(mut command: Command, args: &[&str]) -> Proc {
        let consensus = args.first() == Some(&"consensus");
        let mut ports = Vec::new();
        for flag in [
            "--http.port",
            "--authrpc.port",
            "--metrics.port",
            "--flashblocks.port",
            "--preconf.api-port",
        ] {
            if !args.contains(&flag) && !args.contains(&"--config") {
                ports.extend([flag, "0"]);
            }
        }
        let sequencer = args.first() == Some(&"devnet") && !args.contains(&"--flashblocks.disable")
            || args
                .windows(2)
                .any(|w| w[0] == "--role" && w[1].contains("sequencer"))
            || args.iter().any(|a| a.ends_with("sequencer.toml"));
        let mut child = command
            .args(args)
            .args(ports)
            .env("RUST_LOG_STYLE", "never")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start preconf-node");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let (mut rpc, mut engine, mut metrics, mut flashblocks, mut payload_server) =
            (None, None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        // The last lines it printed, for the failure message when it does not start.
        let mut last: std::collections::VecDeque<String> = Default::default();
        while (!consensus && (rpc.is_none() || engine.is_none()))
            || metrics.is_none()
            || (sequencer && (flashblocks.is_none() || payload_server.is_none()))
        {
            let line = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => line,
                Err(_) => {
                    let exited = child.try_wait().ok().flatten();
                    if exited.is_some() || Instant::now() > deadline {
                        let _ = child.kill();
                        let tail: Vec<String> = last.drain(..).chain(rx.try_iter()).collect();
                        panic!(
                            "node did not start listening ({}); its last lines:\n{}",
                            exited.map_or("60 s passed".to_string(), |s| format!("exited: {s}")),
                            tail.join("\n")
                        );
                    }
                    continue;
                }
            };
            last.push_back(line.clone());
            if last.len() > 30 {
                last.pop_front();
            }
            let bound = |name: &str| {
                (line.contains("listening") && line.contains(&format!("server=\"{name}\"")))
                    .then(|| {
                        line.split("bound=")
                            .nth(1)?
                            .split_whitespace()
                            .next()?
                            .parse()
                            .ok()
                    })
                    .flatten()
            };
            rpc = rpc.or_else(|| bound("rpc"));
            engine = engine.or_else(|| bound("engine"));
            metrics = metrics.or_else(|| bound("metrics"));
            flashblocks = flashblocks.or_else(|| bound("flashblocks"));
            payload_server = payload_server.or_else(|| bound("payload-server"));
        }
        let metrics = metrics.unwrap();
        Proc {
            child,
            rpc: rpc.unwrap_or(metrics),
            engine: engine.unwrap_or(metrics),
            metrics,
            flashblocks,
            payload_server,
            log: rx,
        }
    }

    /// The output lines printed since the last call.
    pub(crate) fn new_output(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    pub(crate) fn call(&self, method: &str, params: Value) -> Value {
        rpc(self.rpc, method, params)
    }

    /// The value of a metric series (0 when absent), e.g.
    /// `preconf_overlay_rejected_total{reason="gap"}`.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        get(self.metrics, "/metrics")
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }
}

/// A JSON-RPC quantity (`"0x1a"`) as a number; panics on anything else.
pub(crate) fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// A plain HTTP/1.1 GET; returns the whole response (head and body).
pub(crate) fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// A base port such that the `n` blocks of ten ports from it were free a moment ago (for
/// `preconf-node init --base-port`).
pub(crate) fn free_port_range(n: u16) -> u16 {
    let span = 10 * n;
    let mut base = 20_000 + (std::process::id() as u16 % 2_000) * 10;
    loop {
        let free =
            (base..base + span).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
        base = base.wrapping_add(span).max(20_000) % 60_000;
    }
}

/// A port that was free a moment ago (for flags two processes must agree on before either starts).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 POST of a JSON body; returns the status and the body.
pub(crate) fn post(addr: SocketAddr, body: &str, bearer: Option<&str>) -> (u16, String) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(addr, "POST", "/", &headers, body)
}

/// One HTTP/1.1 request with these extra headers; returns the status and the body.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    // A server may answer and close before an oversized body is fully written: keep what it said.
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let resp = String::from_utf8_lossy(&raw).to_string();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// One JSON-RPC call; returns the whole response object.
pub(crate) fn rpc(addr: SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let (_, resp) = post(addr, &body, None);
    serde_json::from_str(&resp).unwrap_or_else(|e| panic!("bad response to {method}: {e}: {resp}"))
}

/// Polls `f` until it returns `Some` or the timeout passes.
pub(crate) fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/execution-apis/tests"
    ))
}

/// A minimal WebSocket client (RFC 6455, text frames only), enough to subscribe and read.
pub(crate) struct Ws(TcpStream);

impl Ws {
    pub(crate) fn connect(addr: SocketAddr) -> Ws {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("handshake");
            head.push(byte[0]);
        }
        assert!(
            String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
            "no upgrade: {}",
            String::from_utf8_lossy(&head)
        );
        Ws(s)
    }

    pub(crate) fn send(&mut self, text: &str) {
        self.send_frame(0x81, text.as_bytes());
    }

    /// One masked frame with this first byte (FIN and opcode).
    fn send_frame(&mut self, first: u8, payload: &[u8]) {
        let mut frame = vec![first];
        let mask = [1u8, 2, 3, 4];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).unwrap();
    }

    /// Writes raw bytes (a partial frame, say).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    /// Waits until the server closes the connection (or `within` passes), skipping what it
    /// sends meanwhile (pings).
    pub(crate) fn wait_closed(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 1024];
        while Instant::now() < deadline {
            match self.0.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return,
            }
        }
    }

    /// Stays connected for `d` without sending anything, answering the server's pings and
    /// skipping what else it sends; false when the server closed the connection meanwhile.
    pub(crate) fn stay(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        self.0
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let open = loop {
            if Instant::now() >= deadline {
                break true;
            }
            let mut h = [0u8; 2];
            match self.0.read(&mut h[..1]) {
                Ok(0) => break false,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue;
                }
                Err(_) => break false,
            }
            if self.0.read_exact(&mut h[1..]).is_err() {
                break false;
            }
            let Some(payload) = self.payload(h) else {
                break false;
            };
            match h[0] & 0x0f {
                8 => break false,
                9 => self.send_frame(0x8a, &payload),
                _ => {}
            }
        };
        self.0
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        open
    }

    /// The payload of a frame whose two header bytes are read (servers do not mask).
    fn payload(&mut self, h: [u8; 2]) -> Option<Vec<u8>> {
        let mut len = (h[1] & 0x7f) as u64;
        if len == 126 {
            let mut b = [0u8; 2];
            self.0.read_exact(&mut b).ok()?;
            len = u16::from_be_bytes(b) as u64;
        } else if len == 127 {
            let mut b = [0u8; 8];
            self.0.read_exact(&mut b).ok()?;
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; len as usize];
        self.0.read_exact(&mut payload).ok()?;
        Some(payload)
    }

    /// The next text message, as JSON. Pings are answered on the way, as RFC 6455 requires
    /// of every client (servers drop clients that do not).
    pub(crate) fn recv(&mut self) -> Value {
        loop {
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h).expect("frame header");
            let payload = self.payload(h).expect("frame payload");
            match h[0] & 0x0f {
                1 => return serde_json::from_slice(&payload).expect("JSON text frame"),
                9 => self.send_frame(0x8a, &payload),
                _ => {}
            }
        }
    }
}

/// The PYTHONPATH under which `module` imports: `tests/tools/.python`, where the pinned Python
/// packages of the tests (`tests/tools/requirements.txt`, from PyPI) are installed when missing.
pub(crate) fn python_path(module: &str) -> String {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools");
    let path = tools.join(".python").to_str().unwrap().to_string();
    let imports = || {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .env("PYTHONPATH", &path)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !imports() {
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target", &path, "-r"])
            .arg(tools.join("requirements.txt"))
            .status()
            .expect("python3 with pip is needed")
            .success();
        assert!(ok && imports(), "installing {module} from PyPI failed");
    }
    path
}
