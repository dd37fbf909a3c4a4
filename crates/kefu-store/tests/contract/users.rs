use crate::support::*;
use kefu_domain::store::Store;
use kefu_domain::StoreError;
use std::sync::Arc;

crate::store_contract!(totp_enrolment_and_recovery_codes);

async fn totp_enrolment_and_recovery_codes(store: Arc<dyn Store>) {
    let (_, user) = workspace(&store, "o@example.com").await;
    let pending = store.enable_totp(user, "JBSWY3DPEHPK3PXP", &[]).await;
    assert!(
        matches!(pending, Err(StoreError::NotFound(_))),
        "no secret yet: {pending:?}"
    );
    store
        .set_pending_totp(user, "JBSWY3DPEHPK3PXP")
        .await
        .unwrap();
    let u = store.get_user(user).await.unwrap();
    assert_eq!(
        (u.totp_secret.as_deref(), u.totp_enabled),
        (Some("JBSWY3DPEHPK3PXP"), false)
    );
    // A confirmation checked against another secret (a concurrent
    // re-enrolment replaced it) must not enable the factor.
    let stale = store.enable_totp(user, "STALESECRET", &[]).await;
    assert!(matches!(stale, Err(StoreError::NotFound(_))), "{stale:?}");
    assert!(!store.get_user(user).await.unwrap().totp_enabled);
    store
        .enable_totp(user, "JBSWY3DPEHPK3PXP", &["r1".into(), "r2".into()])
        .await
        .unwrap();
    assert!(store.get_user(user).await.unwrap().totp_enabled);
    let again = store.set_pending_totp(user, "OTHER").await;
    assert!(matches!(
        again,
        Err(StoreError::Conflict("totp_already_enabled"))
    ));
    assert_eq!(store.count_recovery_codes(user).await.unwrap(), 2);
    assert!(store.use_recovery_code(user, "r1", now()).await.unwrap());
    assert!(
        !store.use_recovery_code(user, "r1", now()).await.unwrap(),
        "single use"
    );
    assert!(!store.use_recovery_code(user, "zz", now()).await.unwrap());
    assert_eq!(store.count_recovery_codes(user).await.unwrap(), 1);
    assert!(store.consume_totp_step(user, 100).await.unwrap());
    assert!(
        !store.consume_totp_step(user, 100).await.unwrap(),
        "a step is good once"
    );
    assert!(
        !store.consume_totp_step(user, 99).await.unwrap(),
        "and never an older one"
    );
    assert!(store.consume_totp_step(user, 101).await.unwrap());
    store.disable_totp(user).await.unwrap();
    let u = store.get_user(user).await.unwrap();
    assert_eq!((u.totp_secret, u.totp_enabled), (None, false));
    assert_eq!(store.count_recovery_codes(user).await.unwrap(), 0);
}
