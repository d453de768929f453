//! The object store a query session sees: one tenant's prefix, read-only.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// `inner` narrowed to `prefix` (via `PrefixStore`) with every write refused. Paths are
/// relative to the prefix, and no path can leave it (object_store paths have no `..`).
#[derive(Debug)]
pub(crate) struct TenantStore {
    inner: PrefixStore<Arc<dyn ObjectStore>>,
    prefix: Path,
}

impl TenantStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = Path::from(prefix);
        TenantStore {
            inner: PrefixStore::new(inner, prefix.clone()),
            prefix,
        }
    }

    fn read_only() -> object_store::Error {
        object_store::Error::NotSupported {
            source: "the query layer is read-only".into(),
        }
    }
}

impl std::fmt::Display for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantStore({})", self.prefix)
    }
}

#[async_trait]
impl ObjectStore for TenantStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(Self::read_only())
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(Self::read_only())
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let mut r = match self.inner.get_opts(location, options).await {
            Ok(r) => r,
            // A session only ever names catalogued segments. DataFusion answers a missing
            // file's `head` by listing it as a prefix, which finds nothing, so a lost
            // segment would silently drop its rows from every answer: fail the query.
            Err(object_store::Error::NotFound { path, .. }) if head => {
                return Err(object_store::Error::Generic {
                    store: "scrim segments",
                    source: format!(
                        "a catalogued segment is missing from the object store: {path}"
                    )
                    .into(),
                });
            }
            Err(e) => return Err(e),
        };
        // PrefixStore (object_store 0.13.2) leaves the full path in the result's metadata,
        // and `head` is built on `get_opts`; DataFusion then fails to match the file it
        // listed. Give the path back as asked: with a store that is itself under a prefix
        // (`s3://bucket/prefix`), the full path holds that prefix too.
        r.meta.location = location.clone();
        Ok(r)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(Self::read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(Self::read_only())
    }

    async fn rename_opts(&self, _: &Path, _: &Path, _: RenameOptions) -> Result<()> {
        Err(Self::read_only())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn sees_one_prefix_and_cannot_write() {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        mem.put(
            &Path::from("eu1/a/spans/x.parquet"),
            PutPayload::from_static(b"a"),
        )
        .await
        .unwrap();
        mem.put(
            &Path::from("eu1/b/spans/y.parquet"),
            PutPayload::from_static(b"b"),
        )
        .await
        .unwrap();
        let t = TenantStore::new(Arc::clone(&mem), "eu1/a");
        let head = t.head(&Path::from("spans/x.parquet")).await.unwrap();
        assert_eq!(head.location.as_ref(), "spans/x.parquet");
        let listed: Vec<_> = t
            .list(None)
            .map(|m| m.unwrap().location.to_string())
            .collect()
            .await;
        assert_eq!(listed, ["spans/x.parquet"]);
        assert!(t.get(&Path::from("../b/spans/y.parquet")).await.is_err());
        assert!(t.get(&Path::from("eu1/b/spans/y.parquet")).await.is_err());
        assert!(
            t.put(&Path::from("spans/z"), PutPayload::from_static(b"z"))
                .await
                .is_err()
        );
        assert!(t.delete(&Path::from("spans/x.parquet")).await.is_err());
        assert!(mem.head(&Path::from("eu1/a/spans/x.parquet")).await.is_ok());

        // A segment store under a prefix of its own (`s3://bucket/prefix`): the same.
        let outer: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(Arc::clone(&mem), "eu1"));
        let t = TenantStore::new(outer, "a");
        let head = t.head(&Path::from("spans/x.parquet")).await.unwrap();
        assert_eq!(head.location.as_ref(), "spans/x.parquet");
    }
}
