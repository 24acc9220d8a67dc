//! A stand-in Kubernetes API server, for `kubectl apply --dry-run=client`:
//! no cluster can run here, and kubectl still asks the API what it knows.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Just enough of the Kubernetes API for `kubectl apply --dry-run=client`:
/// discovery, and 404 for every object (so everything is "created").
/// Stopped when dropped.
pub struct KubeApi {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = std::net::TcpStream::connect(self.host());
    }
}

impl KubeApi {
    pub fn start() -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || serve(listener, &log, &stopped));
        KubeApi { port, seen, stop }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `METHOD PATH` of every request so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(listener: TcpListener, log: &Mutex<Vec<String>>, stop: &AtomicBool) {
    for stream in listener.incoming().flatten() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap_or(0);
            if header.trim().is_empty() {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .to_string();
        log.lock().unwrap().push(format!(
            "{} {path}",
            line.split_whitespace().next().unwrap_or("")
        ));
        let (status, body) = match path.as_str() {
                "/api" => ("200 OK", r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#.to_string()),
                "/apis" => ("200 OK", r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}"#.to_string()),
                "/api/v1" => ("200 OK", r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"]}]}"#.to_string()),
                "/apis/apps/v1" => ("200 OK", r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["create","delete","get","list","patch","update"]}]}"#.to_string()),
                _ => ("404 Not Found", r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404}"#.to_string()),
            };
        let mut stream = stream;
        let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    }
}

/// A kubeconfig in `dir` pointing kubectl at the stand-in API on `port`.
pub fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: default}}\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n"
        ),
    )
    .unwrap();
    path
}
