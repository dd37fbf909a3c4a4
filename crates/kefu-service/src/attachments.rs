//! Files and images in conversations: uploads (streamed to the blob store,
//! their type sniffed from the bytes, limited in size, type and per-
//! workspace quota), claimed by the uploader's next message, and served
//! through short-lived signed links.
//!
//! The blob store is a directory (`[attachments] dir`, default
//! `<data dir>/attachments`): one file per attachment, named by its id
//! under its workspace. An upload is written to a temporary file in the
//! same directory and renamed into place only once complete, so a failed
//! or oversized upload never leaves a file that looks whole.
//!
//! In a cluster the files go to S3-compatible object storage instead
//! (`[attachments] store = "s3://bucket/prefix"`, with the connection
//! settings of `[backup.s3]`): the upload is still staged in the local
//! temporary file, then sent (in parts when large) to
//! `<prefix>/<workspace>/<id>`, and downloads stream from the store.

use crate::chat::Visitor;
use crate::error::{ServiceError, ServiceResult};
use crate::{Access, Services};
use kefu_domain::attachments::{Attachment, AttachmentRef, Uploader};
use kefu_domain::chat::NewMessage;
use kefu_domain::{Action, AttachmentId, ConversationId, WorkspaceId};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// `[attachments]`: the limits of uploads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentsConfig {
    /// Where the files are kept; empty: `<data dir>/attachments`.
    pub dir: Option<PathBuf>,
    /// Largest file accepted, in bytes (413 `payload_too_large` above).
    pub max_bytes: u64,
    /// Most files on one message.
    pub max_per_message: usize,
    /// Content types accepted, as sniffed from the bytes (415
    /// `unsupported_media_type` otherwise).
    pub allowed_types: Vec<String>,
    /// Bytes a workspace's attachments may take in all; 0: no quota.
    pub workspace_quota_bytes: u64,
    /// How long a download link works, in seconds.
    pub url_ttl_secs: u64,
    /// An upload not sent in a message within this many seconds is deleted
    /// (its record and its file), and stops counting against the quota.
    pub orphan_ttl_secs: u64,
    /// `s3://bucket/prefix`: keep the files in S3-compatible object storage
    /// (reached with `[backup.s3]`'s endpoint and credentials) instead of
    /// `dir`, which then only stages uploads. Needed with several replicas.
    pub store: Option<String>,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_bytes: 20 * 1024 * 1024,
            max_per_message: 10,
            allowed_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "application/zip",
                DOCX,
                XLSX,
                PPTX,
                "audio/mpeg",
                "video/mp4",
            ]
            .map(str::to_string)
            .to_vec(),
            workspace_quota_bytes: 10 * 1024 * 1024 * 1024,
            url_ttl_secs: 900,
            orphan_ttl_secs: 86_400,
            store: None,
        }
    }
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// The content type of a file from its first bytes (and, for the Office
/// formats, which are zip archives, its name's extension). Never from the
/// client's word: a `.png` that is an HTML page is text, not an image.
/// UTF-8 text without NUL is `text/plain`; anything unrecognised is
/// `application/octet-stream`.
pub fn sniff(head: &[u8], filename: &str) -> &'static str {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "image/webp"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"PK\x03\x04") {
        let lower = filename.to_ascii_lowercase();
        if lower.ends_with(".docx") {
            DOCX
        } else if lower.ends_with(".xlsx") {
            XLSX
        } else if lower.ends_with(".pptx") {
            PPTX
        } else {
            "application/zip"
        }
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        "video/mp4"
    } else if starts(b"ID3") || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0) {
        "audio/mpeg"
    } else if !head.is_empty() && !head.contains(&0) && utf8_prefix(head) {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// Whether `head` is UTF-8, allowing a character cut at its end.
fn utf8_prefix(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Whether browsers may show this type inline (raster images only; never
/// anything a browser would run or render as a document).
pub fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// The name as given, without a path, control characters or quotes, at
/// most 200 characters; `file` when nothing is left.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// An upload under way: bytes go to a temporary file as they arrive.
pub struct Upload {
    services: Services,
    workspace: WorkspaceId,
    uploader: Uploader,
    id: AttachmentId,
    tmp: PathBuf,
    /// Taken only by [`Upload::finish`], which consumes the upload.
    file: Option<tokio::fs::File>,
    /// The file was renamed into place: nothing left to clean up.
    placed: bool,
    head: Vec<u8>,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl Upload {
    /// Appends a piece; 413 `payload_too_large` once past the limit. On an
    /// error the upload is over: dropping it removes the temporary file.
    pub async fn write(&mut self, chunk: &[u8]) -> ServiceResult<()> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.services.attachments.max_bytes {
            self.services
                .metrics
                .attachment_refused("payload_too_large");
            return Err(ServiceError::TooLarge("payload_too_large"));
        }
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .expect("an upload's file is there until finish");
        file.write_all(chunk).await.map_err(ServiceError::internal)
    }

    /// Completes the upload: checks the type and the quota, moves the file
    /// into place and records it. A refusal drops the upload, and with it
    /// the temporary file.
    pub async fn finish(mut self, filename: &str) -> ServiceResult<Attachment> {
        let filename = clean_filename(filename);
        let content_type = sniff(&self.head, &filename);
        let cfg = &self.services.attachments;
        if !cfg.allowed_types.iter().any(|t| t == content_type) {
            self.services
                .metrics
                .attachment_refused("unsupported_media_type");
            return Err(ServiceError::UnsupportedMediaType("unsupported_media_type"));
        }
        if cfg.workspace_quota_bytes > 0 {
            let used = self.services.store.attachment_bytes(self.workspace).await?;
            if used as u64 + self.bytes > cfg.workspace_quota_bytes {
                self.services
                    .metrics
                    .attachment_refused("storage_quota_exceeded");
                return Err(ServiceError::TooLarge("storage_quota_exceeded"));
            }
        }
        let mut file = self
            .file
            .take()
            .expect("an upload's file is there until finish");
        file.flush().await.map_err(ServiceError::internal)?;
        file.sync_all().await.map_err(ServiceError::internal)?;
        drop(file);
        self.services
            .place_blob(self.workspace, self.id, &self.tmp)
            .await?;
        self.placed = true;
        let a = Attachment {
            id: self.id,
            workspace_id: self.workspace,
            uploader: self.uploader,
            conversation_id: None,
            message_id: None,
            filename,
            content_type: content_type.to_string(),
            bytes: self.bytes as i64,
            sha256: data_encoding::HEXLOWER.encode(&self.hasher.clone().finalize()),
            created_at: self.services.clock.now(),
        };
        if let Err(e) = self.services.store.create_attachment(&a).await {
            self.services.delete_files(self.workspace, &[self.id]).await;
            return Err(e.into());
        }
        self.services.metrics.attachment_uploaded(a.bytes as u64);
        Ok(a)
    }
}

/// An upload that ends before its file is in place (refused, failed, the
/// client went away): its temporary file goes.
impl Drop for Upload {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Services {
    /// Uses these attachment settings and this directory for the files.
    pub fn with_attachments(mut self, config: AttachmentsConfig, dir: PathBuf) -> Self {
        self.attachments = std::sync::Arc::new(config);
        self.blob_dir = std::sync::Arc::new(dir);
        self
    }

    /// Keeps the files in this object store, under `prefix`.
    pub fn with_blob_store(
        mut self,
        store: std::sync::Arc<dyn object_store::ObjectStore>,
        prefix: &str,
    ) -> Self {
        self.objects = Some(std::sync::Arc::new(ObjectBlobs {
            store,
            prefix: prefix.trim_matches('/').to_string(),
        }));
        self
    }

    fn blob_path(&self, ws: WorkspaceId, id: AttachmentId) -> PathBuf {
        self.blob_dir.join(ws.to_string()).join(id.to_string())
    }

    /// Moves a finished upload's staged file into the blob store: renamed
    /// into place, or sent to the object store (in parts when large) and
    /// then removed here.
    async fn place_blob(
        &self,
        ws: WorkspaceId,
        id: AttachmentId,
        staged: &Path,
    ) -> ServiceResult<()> {
        let Some(o) = &self.objects else {
            return tokio::fs::rename(staged, self.blob_path(ws, id))
                .await
                .map_err(ServiceError::internal);
        };
        let mut file = tokio::fs::File::open(staged)
            .await
            .map_err(ServiceError::internal)?;
        let mut out = object_store::buffered::BufWriter::new(o.store.clone(), o.key(ws, id));
        let sent = async {
            tokio::io::copy(&mut file, &mut out).await?;
            out.shutdown().await
        }
        .await;
        if let Err(e) = sent {
            let _ = out.abort().await;
            return Err(ServiceError::internal(format!(
                "storing an attachment in the object store: {e}"
            )));
        }
        let _ = tokio::fs::remove_file(staged).await;
        Ok(())
    }

    async fn begin_upload(&self, ws: WorkspaceId, uploader: Uploader) -> ServiceResult<Upload> {
        let id = AttachmentId::new();
        let dir = self.blob_dir.join(ws.to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(ServiceError::internal)?;
        let tmp = dir.join(format!(".{id}.part"));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(ServiceError::internal)?;
        Ok(Upload {
            services: self.clone(),
            workspace: ws,
            uploader,
            id,
            tmp,
            file: Some(file),
            placed: false,
            head: Vec::with_capacity(SNIFF_BYTES),
            hasher: sha2::Sha256::new(),
            bytes: 0,
        })
    }

    /// A visitor's upload, for their next message.
    pub async fn visitor_upload(&self, v: &Visitor) -> ServiceResult<Upload> {
        self.begin_upload(v.workspace_id, Uploader::Visitor(v.contact_id))
            .await
    }

    /// A member's upload, for their next reply or note.
    pub async fn member_upload(&self, access: &Access) -> ServiceResult<Upload> {
        access.require(Action::SendMessages)?;
        self.begin_upload(
            access.workspace_id,
            Uploader::Agent(access.ctx.principal.user_id()),
        )
        .await
    }

    /// `msg` carrying these files: checks their number, that each is the
    /// uploader's and not sent in another conversation, and copies what the
    /// message shows of them. Someone else's, or an unknown, id is 404
    /// `attachment_not_found`, as if absent.
    pub(crate) async fn with_files(
        &self,
        ws: WorkspaceId,
        ids: &[AttachmentId],
        uploader: Uploader,
        conversation: ConversationId,
        mut msg: NewMessage,
    ) -> ServiceResult<NewMessage> {
        if ids.is_empty() {
            return Ok(msg);
        }
        let mut unique = ids.to_vec();
        unique.sort_by_key(|a| a.0);
        unique.dedup();
        if ids.len() > self.attachments.max_per_message || unique.len() != ids.len() {
            return Err(ServiceError::invalid(
                "attachment_ids",
                if ids.len() > self.attachments.max_per_message {
                    "too_many"
                } else {
                    "duplicate"
                },
            ));
        }
        let mut refs: Vec<AttachmentRef> = Vec::with_capacity(ids.len());
        for id in ids {
            let a = self.store.get_attachment(ws, *id).await?;
            let free = a.conversation_id.is_none_or(|c| c == conversation);
            if a.uploader != uploader || !free {
                return Err(ServiceError::NotFound("attachment"));
            }
            refs.push(a.as_ref());
        }
        let mut meta = msg.meta.take().unwrap_or_default();
        meta.attachments = refs;
        msg.meta = Some(meta);
        Ok(msg)
    }

    /// Binds the files to the message just stored (after [`Self::with_files`]
    /// checked them): they are the conversation's from now on. A failure
    /// (the uploader sent the same file twice at once) is logged: the
    /// message stands.
    pub(crate) async fn claim_files(
        &self,
        ws: WorkspaceId,
        ids: &[AttachmentId],
        uploader: Uploader,
        message: &kefu_domain::chat::Message,
    ) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .claim_attachments(ws, ids, uploader, message.conversation_id, message.id)
            .await
        {
            tracing::warn!(error = %e, message_id = %message.id, "attaching the files failed");
        }
    }

    /// A download link for an attachment, valid for `[attachments]
    /// url_ttl_secs`: `/api/v1/attachments/{id}?ws=…&exp=…&sig=…`. Links
    /// are minted only into messages shown to those who may read them (the
    /// conversation's visitor, the workspace's members).
    pub fn attachment_url(&self, ws: WorkspaceId, id: AttachmentId) -> String {
        let exp = self.clock.now().timestamp() + self.attachments.url_ttl_secs as i64;
        let sig = self.signer.sign_attachment(ws, id, exp);
        format!("/api/v1/attachments/{id}?ws={ws}&exp={exp}&sig={sig}")
    }

    /// Deletes files' bytes whose records are gone (an erasure). A file
    /// that cannot be deleted is logged: its record is gone, so no link
    /// reaches it again.
    pub(crate) async fn delete_files(&self, ws: WorkspaceId, ids: &[AttachmentId]) {
        for id in ids {
            if let Some(o) = &self.objects {
                match o.store.delete(&o.key(ws, *id)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, attachment_id = %id, "deleting a file from the object store failed")
                    }
                }
                continue;
            }
            match tokio::fs::remove_file(self.blob_path(ws, *id)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, attachment_id = %id, "deleting an erased file failed")
                }
            }
        }
    }

    /// Deletes uploads nobody sent within `attachments.orphan_ttl_secs`
    /// (the sweeper's job); returns how many went.
    pub async fn delete_orphan_uploads(&self) -> ServiceResult<usize> {
        let before =
            self.clock.now() - chrono::Duration::seconds(self.attachments.orphan_ttl_secs as i64);
        let gone = self.store.take_orphan_attachments(before, 500).await?;
        for (ws, id) in &gone {
            self.delete_files(*ws, &[*id]).await;
        }
        Ok(gone.len())
    }

    /// The message with a fresh download link on each of its files (for
    /// those who may read it: the paths that show messages call this).
    pub fn with_links(&self, mut m: kefu_domain::chat::Message) -> kefu_domain::chat::Message {
        if let Some(meta) = m.meta.as_mut() {
            for a in &mut meta.attachments {
                a.url = Some(self.attachment_url(m.workspace_id, a.id));
            }
        }
        m
    }

    /// The attachment behind a signed link and the path of its bytes: 404
    /// `attachment_not_found` for a wrong signature or someone else's id,
    /// 410 `link_expired` once the link is past its time.
    pub async fn open_attachment(
        &self,
        ws: WorkspaceId,
        id: AttachmentId,
        exp: i64,
        sig: &str,
    ) -> ServiceResult<(Attachment, Blob)> {
        if !self.signer.verify_attachment(ws, id, exp, sig) {
            return Err(ServiceError::NotFound("attachment"));
        }
        if exp < self.clock.now().timestamp() {
            return Err(ServiceError::Gone("link_expired"));
        }
        let a = self.store.get_attachment(ws, id).await?;
        if let Some(o) = &self.objects {
            return match o.store.get(&o.key(ws, id)).await {
                Ok(got) => Ok((a, Blob::Object(got))),
                Err(object_store::Error::NotFound { .. }) => {
                    Err(ServiceError::NotFound("attachment"))
                }
                Err(e) => Err(ServiceError::internal(format!(
                    "reading an attachment from the object store: {e}"
                ))),
            };
        }
        let path = self.blob_path(ws, id);
        if !Path::new(&path).exists() {
            return Err(ServiceError::NotFound("attachment"));
        }
        Ok((a, Blob::File(path)))
    }
}

/// Files in an object store: `<prefix>/<workspace>/<id>`.
pub struct ObjectBlobs {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectBlobs({}, {:?})", self.store, self.prefix)
    }
}

impl ObjectBlobs {
    fn key(&self, ws: WorkspaceId, id: AttachmentId) -> object_store::path::Path {
        let key = if self.prefix.is_empty() {
            format!("{ws}/{id}")
        } else {
            format!("{}/{ws}/{id}", self.prefix)
        };
        object_store::path::Path::from(key)
    }
}

/// Where an attachment's bytes are read from.
pub enum Blob {
    File(PathBuf),
    Object(object_store::GetResult),
}

impl Blob {
    /// The bytes, streamed.
    pub async fn into_stream(
        self,
    ) -> ServiceResult<futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>>
    {
        use futures_util::StreamExt;
        Ok(match self {
            Blob::File(path) => {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(ServiceError::internal)?;
                tokio_util::io::ReaderStream::new(file).boxed()
            }
            Blob::Object(got) => got
                .into_stream()
                .map(|r| r.map_err(std::io::Error::other))
                .boxed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes_not_the_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....", "x.txt"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0", "a"), "image/jpeg");
        assert_eq!(sniff(b"GIF89a..", "a"), "image/gif");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ", "a"), "image/webp");
        assert_eq!(sniff(b"%PDF-1.7", "a.png"), "application/pdf");
        assert_eq!(sniff(b"PK\x03\x04rest", "报价.XLSX"), XLSX);
        assert_eq!(sniff(b"PK\x03\x04rest", "a.zip"), "application/zip");
        assert_eq!(sniff(b"<html><script>x</script>", "a.png"), "text/plain");
        assert_eq!(sniff("你好，订单号 123".as_bytes(), "a.png"), "text/plain");
        // A character cut at the end of the sniffed prefix is still text.
        let cut = &"你好".as_bytes()[..4];
        assert_eq!(sniff(cut, "a"), "text/plain");
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0", "setup.png"),
            "application/octet-stream"
        );
        assert_eq!(sniff(b"", "a"), "application/octet-stream");
        assert!(shown_inline("image/png"));
        assert!(!shown_inline("text/plain") && !shown_inline("application/pdf"));
    }

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\x\\发票.pdf"), "发票.pdf");
        assert_eq!(clean_filename("a\r\nb\".png"), "ab.png");
        assert_eq!(clean_filename(".htaccess"), "htaccess");
        assert_eq!(clean_filename("  "), "file");
        assert_eq!(clean_filename(&"长".repeat(300)).chars().count(), 200);
    }
}
