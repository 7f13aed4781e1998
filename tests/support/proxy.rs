//! A small HTTP/1.1 proxy in front of the emulator: it logs each AWS call (operation and time)
//! and can answer chosen calls with a fault instead of forwarding them. Loopback only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyFault {
    /// Step Functions' ThrottlingException (400), STS's Throttling (400, XML); 503 for others.
    Throttle,
    /// 503 Service Unavailable.
    Unavailable,
    /// No answer for this long, then the connection is closed.
    Hang(Duration),
}

/// One call that reached the proxy.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub op: String,
    /// The request body (JSON for Step Functions).
    pub body: String,
    pub fault: Option<ProxyFault>,
}

impl Logged {
    /// For UpdateStateMachineAlias / CreateStateMachineAlias: (version number, weight), sorted.
    pub fn routing(&self) -> Vec<(u32, i64)> {
        let json: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        let mut routing: Vec<(u32, i64)> = json["routingConfiguration"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        let arn = i["stateMachineVersionArn"].as_str().unwrap_or_default();
                        (super::version_number(arn), i["weight"].as_i64().unwrap_or(-1))
                    })
                    .collect()
            })
            .unwrap_or_default();
        routing.sort();
        routing
    }
}

type Rule = Box<dyn FnMut(&str, usize) -> Option<ProxyFault> + Send>;

struct Shared {
    log: Vec<Logged>,
    rule: Option<Rule>,
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<new port> to 127.0.0.1:`upstream`.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared { log: Vec::new(), rule: None }));
        let state = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, state.clone()));
            }
        });
        Proxy { port, shared }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `rule(op, n)` is asked for every call, `n` counting earlier calls of the same operation.
    pub fn set_rule(&self, rule: impl FnMut(&str, usize) -> Option<ProxyFault> + Send + 'static) {
        self.shared.lock().unwrap().rule = Some(Box::new(rule));
    }

    pub fn log(&self) -> Vec<Logged> {
        self.shared.lock().unwrap().log.clone()
    }

    /// Calls of `op` that were forwarded (not faulted).
    pub fn forwarded(&self, op: &str) -> Vec<Logged> {
        self.log().into_iter().filter(|l| l.op == op && l.fault.is_none()).collect()
    }
}

async fn serve(mut client: TcpStream, upstream: u16, shared: Arc<Mutex<Shared>>) {
    loop {
        let Some((head, body)) = read_request(&mut client).await else {
            return;
        };
        let op = operation(&head, &body);
        let fault = {
            let mut s = shared.lock().unwrap();
            let n = s.log.iter().filter(|l| l.op == op).count();
            let fault = s.rule.as_mut().and_then(|r| r(&op, n));
            let body = String::from_utf8_lossy(&body).to_string();
            s.log.push(Logged { at: Instant::now(), op: op.clone(), body, fault });
            fault
        };
        let response = match fault {
            Some(ProxyFault::Hang(d)) => {
                tokio::time::sleep(d).await;
                return;
            }
            Some(ProxyFault::Throttle)
                if head.to_ascii_lowercase().contains("x-amz-target: awsstepfunctions") =>
            {
                let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            // STS speaks the query protocol: its throttling answer is XML.
            Some(ProxyFault::Throttle) if op == "GetCallerIdentity" => {
                let body = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                            <Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
                            </Error><RequestId>0</RequestId></ErrorResponse>";
                format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            // CloudWatch speaks rpc-v2 CBOR: its throttle is a CBOR map with a __type.
            Some(ProxyFault::Throttle) if head.contains("/operation/") => {
                let body = cbor_error("Throttling", "Rate exceeded");
                let mut response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend(body);
                response
            }
            Some(_) => b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_vec(),
            None => match forward(&head, &body, upstream).await {
                Some(r) => r,
                None => return,
            },
        };
        if client.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Reads one request: the head (up to the blank line) and a Content-Length body.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

/// Sends the request upstream on a fresh connection and returns the whole response, framed
/// with a Content-Length so the client can keep its connection.
async fn forward(head: &str, body: &[u8], upstream: u16) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await.ok()?;
    let head: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    up.write_all(format!("{head}connection: close\r\n\r\n").as_bytes()).await.ok()?;
    up.write_all(body).await.ok()?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await.ok()?;
    let end = find(&response, b"\r\n\r\n")? + 4;
    let resp_head = String::from_utf8_lossy(&response[..end]).to_string();
    let mut resp_body = response[end..].to_vec();
    if header(&resp_head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        resp_body = dechunk(&resp_body)?;
    }
    let mut out: String = resp_head
        .trim_end()
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !(l.starts_with("connection:")
                || l.starts_with("content-length:")
                || l.starts_with("transfer-encoding:"))
        })
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str(&format!("content-length: {}\r\n\r\n", resp_body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&resp_body);
    Some(bytes)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).split(';').next()?.trim(), 16)
                .ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The AWS operation of a request: Step Functions names it in X-Amz-Target, CloudWatch's
/// rpc-v2 protocol in the path, STS's query protocol in the body.
fn operation(head: &str, body: &[u8]) -> String {
    if let Some(target) = header(head, "x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let path = head.split_whitespace().nth(1).unwrap_or("");
    if let Some(i) = path.find("/operation/") {
        return path[i + "/operation/".len()..].to_string();
    }
    let body = String::from_utf8_lossy(body);
    body.split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string)
        .unwrap_or_else(|| format!("? {path}"))
}

/// `{"__type": code, "message": message}` in CBOR, as an rpc-v2 service answers an error.
fn cbor_error(code: &str, message: &str) -> Vec<u8> {
    let mut out = vec![0xa2];
    for part in ["__type", code, "message", message] {
        out.push(0x60 | part.len() as u8);
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// An API's token bucket, as AWS meters an account: `capacity` calls at once, refilled at
/// `per_second`.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub capacity: f64,
    pub per_second: f64,
}

/// A rule that throttles each operation beyond its bucket (shared by every caller of the
/// proxy, as an account's are), and forwards the rest. Operations without a bucket pass.
pub fn token_buckets(
    buckets: &[(&str, Bucket)],
) -> impl FnMut(&str, usize) -> Option<ProxyFault> + Send + 'static {
    let mut state: std::collections::HashMap<String, (Bucket, f64, Instant)> =
        buckets.iter().map(|(op, b)| (op.to_string(), (*b, b.capacity, Instant::now()))).collect();
    move |op, _| {
        let (bucket, tokens, at) = state.get_mut(op)?;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * bucket.per_second).min(bucket.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            None
        } else {
            Some(ProxyFault::Throttle)
        }
    }
}
