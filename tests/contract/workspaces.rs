use engage_bridge_tests::{Backend, contract_tests, workspace};

async fn stores_workspaces_with_hashed_secrets(b: &Backend) {
    let ws = workspace("acme", "s3cret");
    b.workspaces.put_workspace(&ws).await.unwrap();
    let stored = b.workspaces.get_workspace("acme").await.unwrap().unwrap();
    assert_eq!(stored.app_name, "App acme");
    assert!(stored.secret.is_none(), "{}: plain secret stored", b.kind);
    assert_eq!(
        stored.secret_sha256.map(|hashes| hashes.0),
        Some(vec![shared::config::Secret::new("s3cret").sha256_hex()])
    );
    assert!(b.workspaces.get_workspace("other").await.unwrap().is_none());
}

async fn applying_replaces_the_workspace_set(b: &Backend) {
    b.workspaces
        .apply(&[workspace("a", "x"), workspace("b", "y")])
        .await
        .unwrap();
    assert_eq!(
        b.workspaces.list_workspace_ids().await.unwrap(),
        vec!["a", "b"]
    );
    b.workspaces.apply(&[workspace("b", "z")]).await.unwrap();
    assert_eq!(b.workspaces.list_workspace_ids().await.unwrap(), vec!["b"]);
    assert!(b.workspaces.get_workspace("a").await.unwrap().is_none());
}

contract_tests!(
    stores_workspaces_with_hashed_secrets,
    applying_replaces_the_workspace_set
);
