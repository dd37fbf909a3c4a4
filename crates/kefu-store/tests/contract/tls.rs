//! PostgreSQL over TLS: managed databases (RDS, Azure, Cloud SQL) require
//! it. With `sslmode=require` the store's connections are encrypted, as
//! the server itself reports (`pg_stat_ssl`).

use kefu_store::testing::TestDb;
use sqlx::Connection;

#[tokio::test]
async fn postgres_connections_use_tls_when_the_url_asks() {
    let db = TestDb::postgres().await;
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}sslmode=require", db.url);
    let store = kefu_store::connect(&kefu_store::testing::options(&url))
        .await
        .unwrap_or_else(|e| panic!("sslmode=require: {e} (is ssl on in the test server?)"));
    store.migrate().await.unwrap();
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let (encrypted, plain): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
         WHERE a.datname = $1 AND a.application_name = 'kefu'",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(encrypted >= 1, "no encrypted connection from the store");
    assert_eq!(plain, 0, "a plain-text connection from the store");
    admin.close().await.unwrap();
    drop(store);
    db.cleanup().await;
}
