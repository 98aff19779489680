//! Attachment bytes, stored once by content hash under the data directory.
//!
//! A file is written to a temporary name, synced and renamed to
//! `attachments/<first two hex digits>/<sha256>`, so a reader never sees half a file and
//! the same bytes sent twice take the room once. The store keeps only the metadata.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The content-addressed file store for attachments.
#[derive(Clone, Debug)]
pub struct Blobs {
    root: PathBuf,
}

impl Blobs {
    /// Files live under `dir/attachments`.
    pub fn new(dir: &Path) -> Blobs {
        Blobs {
            root: dir.join("attachments"),
        }
    }

    /// The SHA-256 of `bytes` in lower-case hex, the name a blob is stored under.
    pub fn hash(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// Stores `bytes` (once) and returns their hash.
    pub async fn put(&self, bytes: Vec<u8>) -> std::io::Result<String> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let sha = Blobs::hash(&bytes);
            let path = path_of(&root, &sha);
            if path.exists() {
                return Ok(sha);
            }
            let dir = path.parent().expect("a blob's path has a folder");
            std::fs::create_dir_all(dir)?;
            let mut tmp = Temp::new_in(dir)?;
            tmp.file.write_all(&bytes)?;
            tmp.file.sync_all()?;
            std::fs::rename(&tmp.path, &path)?;
            tmp.renamed = true;
            // The new name must survive a power cut too, since the store will point at it.
            std::fs::File::open(dir)?.sync_all()?;
            Ok(sha)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The bytes stored under `sha256`, or `None` if there are none (or the name is not
    /// a hash).
    pub async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(sha256) else {
            return Ok(None);
        };
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the bytes stored under `sha256` (an erased customer's files); false when
    /// there were none. The caller makes sure no attachment refers to them any more.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<bool> {
        let Some(path) = self.path(sha256) else {
            return Ok(false);
        };
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The size of the bytes stored under `sha256`, if there are any.
    pub fn size(&self, sha256: &str) -> Option<u64> {
        let meta = std::fs::metadata(self.path(sha256)?).ok()?;
        meta.is_file().then_some(meta.len())
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| path_of(&self.root, sha256))
    }
}

fn path_of(root: &Path, sha: &str) -> PathBuf {
    root.join(&sha[..2]).join(sha)
}

/// A new file with a unique name, removed again if it is never renamed.
struct Temp {
    path: PathBuf,
    file: std::fs::File,
    renamed: bool,
}

impl Temp {
    fn new_in(dir: &Path) -> std::io::Result<Temp> {
        let path = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Temp {
            path,
            file,
            renamed: false,
        })
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
