//! A REAPI Content Addressable Storage, read by digest: which blobs it
//! lacks (`FindMissingBlobs`), small blobs in batches (`BatchReadBlobs`),
//! large ones streamed (`ByteStream.Read` on `{instance}/blobs/{hex}/{size}`)
//! and resumed at the last offset after a break. SHA-256 only, the digest
//! of OCI blobs.

use crate::cas::endpoint::Endpoint;
use crate::cas::grpc::{Channel, ChannelOptions, Stream};
use crate::cas::proto;
use crate::error::{Error, Result};
use bytes::Bytes;
use oci_spec::image::Digest;
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

const CAPABILITIES: &str = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities";
const FIND_MISSING: &str =
    "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs";
const BATCH_READ: &str =
    "/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchReadBlobs";
const READ: &str = "/google.bytestream.ByteStream/Read";

/// How many times one blob's stream is opened again at its last offset.
const RESUMES: u32 = 3;

/// Blobs at most this large are read in batches.
pub const BATCH_BLOB: u64 = 1 << 20;

/// A cache, connected.
pub struct Store {
    channel: Channel,
    instance: String,
    /// The most bytes one `BatchReadBlobs` answer may carry.
    max_batch: u64,
    /// Bytes of blobs read from the cache so far.
    read: AtomicU64,
}

impl Store {
    /// Connects to the cache at `endpoint` and checks it speaks SHA-256.
    pub fn connect(endpoint: &Endpoint, instance: &str, options: &ChannelOptions) -> Result<Store> {
        let channel = Channel::connect(endpoint, options)?;
        let capabilities: proto::ServerCapabilities = channel.unary(
            CAPABILITIES,
            &proto::GetCapabilitiesRequest {
                instance_name: instance.to_string(),
            },
        )?;
        let cache = capabilities.cache_capabilities.unwrap_or_default();
        if !offers_sha256(&cache.digest_functions) {
            return Err(channel.error(
                CAPABILITIES,
                "the cache does not offer SHA-256 digests, the digests of OCI blobs; \
                 rko reads no other (Bazel's --digest_function must be sha256)",
            ));
        }
        // Room for the message framing around the blobs.
        let limit = u64::try_from(cache.max_batch_total_size_bytes).unwrap_or(0);
        let max_batch = match limit {
            0 => 4 << 20,
            n => n.saturating_sub(64 << 10).max(BATCH_BLOB),
        };
        Ok(Store {
            channel,
            instance: instance.to_string(),
            max_batch,
            read: AtomicU64::new(0),
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.channel.endpoint()
    }

    /// Bytes of blobs read from the cache so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Which of `blobs` the cache does not hold.
    fn find_missing(&self, blobs: &[(Digest, u64)]) -> Result<Vec<Digest>> {
        let request = proto::FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: blobs
                .iter()
                .map(|(d, size)| cas_digest(d, *size))
                .collect::<Result<_>>()?,
            digest_function: proto::SHA256,
        };
        let answer: proto::FindMissingBlobsResponse = self.channel.unary(FIND_MISSING, &request)?;
        let missing: Vec<String> = answer
            .missing_blob_digests
            .into_iter()
            .map(|d| d.hash)
            .collect();
        Ok(blobs
            .iter()
            .filter(|(d, _)| missing.iter().any(|m| m == d.digest()))
            .map(|(d, _)| d.clone())
            .collect())
    }

    /// Fails, explained, on the first of `blobs` the cache does not hold.
    pub fn require(&self, blobs: &[(Digest, u64)]) -> Result<()> {
        match self.find_missing(blobs)?.first() {
            Some(missing) => {
                let size = blobs.iter().find(|(d, _)| d == missing).map_or(0, |b| b.1);
                Err(self.missing(FIND_MISSING, missing, size))
            }
            None => Ok(()),
        }
    }

    /// The bytes of small `blobs`, each checked against its digest, in
    /// batches under the server's limit.
    pub fn read_small(&self, blobs: &[(Digest, u64)]) -> Result<Vec<(Digest, Vec<u8>)>> {
        let mut read = Vec::with_capacity(blobs.len());
        for batch in batches(blobs, self.max_batch) {
            let request = proto::BatchReadBlobsRequest {
                instance_name: self.instance.clone(),
                digests: batch
                    .iter()
                    .map(|(d, size)| cas_digest(d, *size))
                    .collect::<Result<_>>()?,
                digest_function: proto::SHA256,
            };
            let answer: proto::BatchReadBlobsResponse = self.channel.unary(BATCH_READ, &request)?;
            for (digest, size) in batch {
                let found = answer
                    .responses
                    .iter()
                    .find(|r| r.digest.as_ref().is_some_and(|d| d.hash == digest.digest()))
                    .ok_or_else(|| self.missing(BATCH_READ, digest, *size))?;
                let status = found.status.clone().unwrap_or_default();
                if status.code == 5 {
                    return Err(self.missing(BATCH_READ, digest, *size));
                }
                if status.code != 0 {
                    let message = format!(
                        "blob {digest}: {}: {}",
                        crate::cas::grpc::code_name(status.code),
                        crate::untrusted::escape(&status.message)
                    );
                    return Err(self.channel.error(BATCH_READ, &message));
                }
                check_bytes(&self.channel, digest, &found.data)?;
                self.read
                    .fetch_add(found.data.len() as u64, Ordering::Relaxed);
                read.push((digest.clone(), found.data.clone()));
            }
        }
        Ok(read)
    }

    /// `length` bytes of the blob from `offset`, streamed as they are read;
    /// a whole blob is checked against its digest before its last bytes
    /// are handed on.
    pub fn reader(
        &self,
        digest: &Digest,
        size: u64,
        offset: u64,
        length: u64,
    ) -> Result<BlobReader<'_>> {
        cas_digest(digest, size)?;
        let resource = match self.instance.as_str() {
            "" => format!("blobs/{}/{size}", digest.digest()),
            instance => format!("{instance}/blobs/{}/{size}", digest.digest()),
        };
        Ok(BlobReader {
            store: self,
            digest: digest.clone(),
            size,
            resource,
            offset,
            end: offset + length,
            stream: None,
            pending: Bytes::new(),
            resumes: RESUMES,
            hasher: (offset == 0 && length == size).then(Sha256::new),
        })
    }

    /// Writes the whole blob to a new file at `path`, checked against its
    /// digest as it is read.
    pub fn write_blob(&self, digest: &Digest, size: u64, path: &std::path::Path) -> Result<()> {
        let mut reader = self.reader(digest, size, 0, size)?;
        let mut file = std::fs::File::create(path).map_err(|e| Error::io("creating", path, e))?;
        std::io::copy(&mut reader, &mut file).map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<Error>() {
                Ok(error) => *error,
                Err(other) => Error::io("writing", path, std::io::Error::other(other)),
            },
            None => Error::io("writing", path, std::io::Error::other("short write")),
        })?;
        Ok(())
    }

    /// The error for a blob the cache does not hold.
    fn missing(&self, method: &str, digest: &Digest, size: u64) -> Error {
        self.channel.error(
            method,
            &format!(
                "blob {digest} ({size} bytes) is not in the cache{}: caches evict blobs they \
                 have not served lately (bazel-remote's --max_size), and Bazel stores a locally \
                 built output only with --remote_upload_local_results; build the image again \
                 (`bazel clean` first, or --remote_download_outputs=all) or push eagerly",
                match self.instance.as_str() {
                    "" => String::new(),
                    instance => format!(" (instance {instance:?})"),
                }
            ),
        )
    }
}

/// A blob read from the cache as a stream.
pub struct BlobReader<'a> {
    store: &'a Store,
    digest: Digest,
    size: u64,
    resource: String,
    offset: u64,
    end: u64,
    stream: Option<Stream<'a>>,
    /// Bytes received and not yet handed on.
    pending: Bytes,
    resumes: u32,
    /// Set when the whole blob is read, to check it.
    hasher: Option<Sha256>,
}

impl BlobReader<'_> {
    /// The next bytes from the server, opening (or opening again, at the
    /// last offset) the stream as needed.
    fn receive(&mut self) -> Result<()> {
        loop {
            let store = self.store;
            if self.stream.is_none() {
                let request = proto::ReadRequest {
                    resource_name: self.resource.clone(),
                    read_offset: self.offset as i64,
                    read_limit: (self.end - self.offset) as i64,
                };
                match store.channel.stream(READ, &request) {
                    Ok(stream) => self.stream = Some(stream),
                    Err(e) => self.retry_or(e)?,
                }
                continue;
            }
            let stream = self.stream.as_mut().expect("opened above");
            match stream.next::<proto::ReadResponse>() {
                Ok(Some(answer)) => {
                    let left = (self.end - self.offset) as usize;
                    let data = answer.data.slice(..answer.data.len().min(left));
                    if data.is_empty() {
                        continue;
                    }
                    store.read.fetch_add(data.len() as u64, Ordering::Relaxed);
                    self.pending = data;
                    return self.check();
                }
                Ok(None) => {
                    let message = format!(
                        "blob {} ended at byte {} of {}",
                        self.digest, self.offset, self.end
                    );
                    self.retry_or(store.channel.error(READ, &message))?;
                }
                Err(e) => self.retry_or(e)?,
            }
        }
    }

    /// Drops the broken stream to open it again at the last offset, while
    /// tries are left; a blob the cache lacks is not tried again.
    fn retry_or(&mut self, error: Error) -> Result<()> {
        self.stream = None;
        if self.resumes == 0 || error.to_string().contains("NOT_FOUND") {
            if error.to_string().contains("NOT_FOUND") {
                return Err(self.store.missing(READ, &self.digest, self.size));
            }
            return Err(error);
        }
        self.resumes -= 1;
        log::debug!(
            "{error}; reading blob {} again from byte {}",
            self.digest,
            self.offset
        );
        Ok(())
    }

    /// Hashes what arrived; once it completes the blob, checks the digest.
    fn check(&mut self) -> Result<()> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(());
        };
        hasher.update(&self.pending);
        if self.offset + self.pending.len() as u64 == self.end {
            let actual = hex::encode(self.hasher.take().expect("set").finalize());
            if actual != self.digest.digest() {
                self.pending = Bytes::new();
                let message = format!("blob {} arrived as sha256:{actual}", self.digest);
                return Err(self.store.channel.error(READ, &message));
            }
        }
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.offset == self.end {
            return Ok(0);
        }
        if self.pending.is_empty() {
            self.receive().map_err(std::io::Error::other)?;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        self.offset += n as u64;
        Ok(n)
    }
}

/// Whether a cache whose capabilities list `functions` holds SHA-256
/// blobs. An empty list is an older server's way of saying SHA-256 only.
fn offers_sha256(functions: &[i32]) -> bool {
    functions.is_empty() || functions.contains(&proto::SHA256)
}

/// An OCI digest as the cache names it; only SHA-256 has a name there.
fn cas_digest(digest: &Digest, size: u64) -> Result<proto::Digest> {
    if digest.algorithm().as_ref() != "sha256" {
        return Err(Error::invalid(format!(
            "blob {digest}: a remote cache is read by SHA-256 digests only"
        )));
    }
    Ok(proto::Digest {
        hash: digest.digest().to_string(),
        size_bytes: size as i64,
    })
}

fn check_bytes(channel: &Channel, digest: &Digest, data: &[u8]) -> Result<()> {
    let actual = hex::encode(Sha256::digest(data));
    if actual != digest.digest() {
        let message = format!("blob {digest} arrived as sha256:{actual}");
        return Err(channel.error(BATCH_READ, &message));
    }
    Ok(())
}

/// `blobs` in order, cut into runs of at most `limit` bytes (a larger
/// blob alone).
fn batches(blobs: &[(Digest, u64)], limit: u64) -> Vec<&[(Digest, u64)]> {
    let mut batches = Vec::new();
    let (mut start, mut total) = (0, 0);
    for (i, (_, size)) in blobs.iter().enumerate() {
        if i > start && total + size > limit {
            batches.push(&blobs[start..i]);
            (start, total) = (i, 0);
        }
        total += size;
    }
    if start < blobs.len() {
        batches.push(&blobs[start..]);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_the_limit_in_order() {
        let blob = |n: u8, size| {
            (
                format!("sha256:{}", hex::encode([n; 32])).parse().unwrap(),
                size,
            )
        };
        let blobs: Vec<(Digest, u64)> =
            vec![blob(1, 3), blob(2, 4), blob(3, 9), blob(4, 1), blob(5, 1)];
        let sizes: Vec<Vec<u64>> = batches(&blobs, 8)
            .iter()
            .map(|b| b.iter().map(|(_, s)| *s).collect())
            .collect();
        assert_eq!(sizes, vec![vec![3, 4], vec![9], vec![1, 1]]);
        assert!(batches(&[], 8).is_empty());
    }

    #[test]
    fn a_cache_without_sha256_is_refused() {
        const SHA1: i32 = 2;
        const BLAKE3: i32 = 9;
        for (functions, offered) in [
            (vec![], true),
            (vec![proto::SHA256], true),
            (vec![BLAKE3, proto::SHA256], true),
            (vec![SHA1], false),
            (vec![BLAKE3], false),
        ] {
            assert_eq!(offers_sha256(&functions), offered, "{functions:?}");
        }
    }

    #[test]
    fn only_sha256_digests_are_asked_for() {
        let sha512: Digest = format!("sha512:{}", "ab".repeat(64)).parse().unwrap();
        let err = cas_digest(&sha512, 1).unwrap_err().to_string();
        assert!(err.contains("SHA-256"), "{err}");
    }
}
