//! The backup catalog is both engines' schema: after migrating, every
//! table and column of each database is in the catalog and vice versa, so
//! a migration cannot add data a backup would silently leave out.

use kefu_store::snapshot::Snapshot;
use kefu_store::testing::TestDb;

async fn catalog_matches(db: TestDb) {
    let store = kefu_store::connect(&kefu_store::testing::options(db.url.clone()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut snap = Snapshot::open(&db.url).await.unwrap();
    snap.check_schema().await.unwrap();
    drop(snap);
    drop(store);
    db.cleanup().await;
}

#[tokio::test]
async fn the_backup_catalog_is_the_sqlite_schema() {
    catalog_matches(TestDb::sqlite()).await;
}

#[tokio::test]
async fn the_backup_catalog_is_the_postgres_schema() {
    catalog_matches(TestDb::postgres().await).await;
}
