//! Buildbarn (github.com/buildbarn, pinned in scripts/peers.txt): a
//! production remote execution cluster of four processes, as
//! bb-deployments' `bare` set-up runs them. bb_storage holds the CAS and
//! the action cache on local block-device files; bb_scheduler takes
//! Execute calls from clients and hands actions to workers; bb_worker
//! fetches an action's inputs into a native build directory (no FUSE) and
//! asks bb_runner, over a unix socket, to run its command there. Every
//! address is on 127.0.0.1 or under the test's directory; the configs are
//! Jsonnet, which the binaries read themselves.

use super::peer;
use super::registry::free_port;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Buildbarn cluster, each process killed by its PID when dropped.
pub struct Buildbarn {
    /// The processes, by name (`bb_storage`, …), in the order they started.
    processes: Vec<(&'static str, Child)>,
    dir: PathBuf,
    /// bb_storage's gRPC port: the CAS and the action cache.
    pub storage_port: u16,
    /// bb_scheduler's client gRPC port: Execution and Capabilities.
    pub scheduler_port: u16,
    /// bb_scheduler's port for workers.
    worker_port: u16,
    /// bb_scheduler's diagnostics HTTP port (Prometheus metrics).
    metrics_port: u16,
}

impl Drop for Buildbarn {
    fn drop(&mut self) {
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// bb_storage: a CAS and an action cache, each a local store on sparse
/// files under DIR (blocks large enough for the biggest input, the static
/// rko or a Go toolchain binary; an action cache updates in place, in one
/// new block).
const STORAGE: &str = r#"
local store(dir, keys, blocks, newBlocks) = {
  'local': {
    keyLocationMapOnBlockDevice: { file: { path: dir + '/key_location_map', sizeBytes: keys } },
    keyLocationMapMaximumGetAttempts: 8,
    keyLocationMapMaximumPutAttempts: 32,
    oldBlocks: 8,
    currentBlocks: 24,
    newBlocks: newBlocks,
    blocksOnBlockDevice: { source: { file: { path: dir + '/blocks', sizeBytes: blocks } }, spareBlocks: 3 },
  },
};
{
  grpcServers: [{ listenAddresses: ['127.0.0.1:STORAGE_PORT'], authenticationPolicy: { allow: {} } }],
  maximumMessageSizeBytes: 16 * 1024 * 1024,
  contentAddressableStorage: {
    backend: store('DIR/storage-cas', 16 * 1024 * 1024, 8 * 1024 * 1024 * 1024, 3),
    getAuthorizer: { allow: {} },
    putAuthorizer: { allow: {} },
    findMissingAuthorizer: { allow: {} },
  },
  actionCache: {
    backend: store('DIR/storage-ac', 1024 * 1024, 256 * 1024 * 1024, 1),
    getAuthorizer: { allow: {} },
    putAuthorizer: { allow: {} },
  },
}
"#;

/// bb_scheduler: every action to the one platform queue the worker joins.
const SCHEDULER: &str = r#"
{
  clientGrpcServers: [{ listenAddresses: ['127.0.0.1:SCHEDULER_PORT'], authenticationPolicy: { allow: {} } }],
  workerGrpcServers: [{ listenAddresses: ['127.0.0.1:WORKER_PORT'], authenticationPolicy: { allow: {} } }],
  browserUrl: 'http://127.0.0.1:1',
  contentAddressableStorage: { grpc: { address: '127.0.0.1:STORAGE_PORT' } },
  maximumMessageSizeBytes: 16 * 1024 * 1024,
  global: {
    diagnosticsHttpServer: {
      httpServers: [{ listenAddresses: ['127.0.0.1:METRICS_PORT'], authenticationPolicy: { allow: {} } }],
      enablePrometheus: true,
    },
  },
  executeAuthorizer: { allow: {} },
  modifyDrainsAuthorizer: { allow: {} },
  killOperationsAuthorizer: { allow: {} },
  actionRouter: {
    simple: {
      platformKeyExtractor: { actionAndCommand: {} },
      invocationKeyExtractors: [{ correlatedInvocationsId: {} }, { toolInvocationId: {} }],
      initialSizeClassAnalyzer: { defaultExecutionTimeout: '1800s', maximumExecutionTimeout: '7200s' },
    },
  },
  platformQueueWithNoWorkersTimeout: '900s',
}
"#;

/// bb_worker: a native build directory (inputs hard-linked from a local
/// file cache beside it), two actions at a time, for the empty platform.
const WORKER: &str = r#"
{
  blobstore: {
    contentAddressableStorage: { grpc: { address: '127.0.0.1:STORAGE_PORT' } },
    actionCache: { grpc: { address: '127.0.0.1:STORAGE_PORT' } },
  },
  browserUrl: 'http://127.0.0.1:1',
  maximumMessageSizeBytes: 16 * 1024 * 1024,
  scheduler: { address: '127.0.0.1:WORKER_PORT' },
  buildDirectories: [{
    native: {
      buildDirectoryPath: 'DIR/build',
      cacheDirectoryPath: 'DIR/cache',
      maximumCacheFileCount: 100000,
      maximumCacheSizeBytes: 4 * 1024 * 1024 * 1024,
      cacheReplacementPolicy: 'LEAST_RECENTLY_USED',
    },
    runners: [{
      endpoint: { address: 'unix:runner.sock' },
      concurrency: 2,
      platform: {},
      workerId: { hostname: 'localhost' },
    }],
  }],
  outputUploadConcurrency: 4,
  inputDownloadConcurrency: 4,
}
"#;

/// bb_runner: runs the worker's commands in its build directory.
const RUNNER: &str = r#"
{
  buildDirectoryPath: 'DIR/build',
  grpcServers: [{ listenPaths: ['runner.sock'], authenticationPolicy: { allow: {} } }],
}
"#;

impl Buildbarn {
    /// Starts storage, scheduler, runner and worker with their configs,
    /// stores, build directory, runner socket and logs under `dir`, and
    /// waits until the worker has joined the scheduler's queue.
    pub fn start(dir: &Path) -> Buildbarn {
        let binaries = ["bb_storage", "bb_scheduler", "bb_runner", "bb_worker"].map(peer);
        fs::create_dir_all(dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        for sub in ["storage-cas", "storage-ac", "build", "cache"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut bb = Buildbarn {
            processes: Vec::new(),
            storage_port: free_port(),
            scheduler_port: free_port(),
            worker_port: free_port(),
            metrics_port: free_port(),
            dir: dir.clone(),
        };
        let fill = |template: &str| {
            template
                .replace("STORAGE_PORT", &bb.storage_port.to_string())
                .replace("SCHEDULER_PORT", &bb.scheduler_port.to_string())
                .replace("WORKER_PORT", &bb.worker_port.to_string())
                .replace("METRICS_PORT", &bb.metrics_port.to_string())
                .replace("DIR", dir.to_str().unwrap())
        };
        let configs = [STORAGE, SCHEDULER, RUNNER, WORKER].map(fill);
        let names = ["bb_storage", "bb_scheduler", "bb_runner", "bb_worker"];
        for ((name, binary), config) in names.into_iter().zip(binaries).zip(configs) {
            let path = dir.join(format!("{name}.jsonnet"));
            fs::write(&path, config).unwrap();
            let log = fs::File::create(dir.join(format!("{name}.log"))).unwrap();
            let child = Command::new(binary)
                .arg(&path)
                // The runner's socket is relative: a unix socket's path has
                // at most 107 bytes, and the test's directory may be deep.
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stderr(log.try_clone().unwrap())
                .stdout(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
            bb.processes.push((name, child));
            match name {
                "bb_storage" => bb.wait_until("bb_storage listens", |bb| {
                    TcpStream::connect(("127.0.0.1", bb.storage_port)).is_ok()
                }),
                "bb_scheduler" => bb.wait_until("bb_scheduler listens", |bb| {
                    [bb.scheduler_port, bb.worker_port, bb.metrics_port]
                        .iter()
                        .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
                }),
                "bb_runner" => bb.wait_until("bb_runner listens", |bb| {
                    bb.dir.join("runner.sock").exists()
                }),
                _ => bb.wait_until("bb_worker joins the scheduler", |bb| {
                    bb.workers_created() > 0
                }),
            }
        }
        bb
    }

    /// Waits (a minute at most) until `ready`, failing with every log if a
    /// process exits or time runs out.
    fn wait_until(&mut self, what: &str, ready: impl Fn(&Buildbarn) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(self) {
            let exited: Vec<String> = self
                .processes
                .iter_mut()
                .filter_map(|(name, child)| {
                    let status = child.try_wait().unwrap()?;
                    Some(format!("{name} exited ({status})"))
                })
                .collect();
            assert!(
                exited.is_empty() && Instant::now() < deadline,
                "Buildbarn did not start: waiting until {what}; {exited:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many workers the scheduler has seen join, from its metrics.
    fn workers_created(&self) -> u64 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.metrics_port)) else {
            return 0;
        };
        let request = format!(
            "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.metrics_port
        );
        let mut response = String::new();
        if stream.write_all(request.as_bytes()).is_err()
            || stream.read_to_string(&mut response).is_err()
        {
            return 0;
        }
        response
            .lines()
            .filter(|line| {
                line.starts_with("buildbarn_builder_in_memory_build_queue_workers_created_total")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// `127.0.0.1:PORT` of the scheduler (`--remote_executor=grpc://…`).
    pub fn executor_address(&self) -> String {
        format!("127.0.0.1:{}", self.scheduler_port)
    }

    /// `127.0.0.1:PORT` of the storage (`--remote_cache=grpc://…`).
    pub fn cache_address(&self) -> String {
        format!("127.0.0.1:{}", self.storage_port)
    }

    /// Every process's log, each under its name: for failure messages.
    pub fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|(name, _)| {
                let log = fs::read_to_string(self.dir.join(format!("{name}.log")));
                format!("--- {name}:\n{}", log.unwrap_or_default())
            })
            .collect()
    }
}
