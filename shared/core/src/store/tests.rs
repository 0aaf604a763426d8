use super::*;
use crate::fields::Field;

fn state(id: &str, user: u64) -> EmployeeState {
    let mut s = EmployeeState::new(id, Utc::now());
    s.learnamp_user_id = Some(user);
    s.active = true;
    s.applied_fields
        .insert(Field::Email, "00000000000abcde".parse().unwrap());
    s
}

#[tokio::test]
async fn survives_reopen_and_keeps_the_latest_record() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "personio:T1";
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put_employee(tenant, &state("e1", 1)).await.unwrap();
        store.put_employee(tenant, &state("e1", 2)).await.unwrap();
        store.put_employee(tenant, &state("e2", 3)).await.unwrap();
        store.put_cursor(tenant, Utc::now()).await.unwrap();
        store.flush().await.unwrap();
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let employees = store.employees(tenant).await.unwrap();
    assert_eq!(employees.len(), 2);
    assert_eq!(employees["e1"].learnamp_user_id, Some(2));
    assert!(store.cursor(tenant).await.unwrap().is_some());
    assert!(store.employees("personio:other").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_torn_last_line_loses_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "personio:T1";
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put_employee(tenant, &state("e1", 1)).await.unwrap();
        store.put_employee(tenant, &state("e2", 2)).await.unwrap();
    }
    // Simulate a kill in the middle of writing the second record.
    let path = dir.path().join(format!("{}.jsonl", file_name_for(tenant)));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();

    let store = EmbeddedStore::open(dir.path()).unwrap();
    let employees = store.employees(tenant).await.unwrap();
    assert_eq!(employees.len(), 1);
    assert_eq!(employees["e1"].learnamp_user_id, Some(1));
    // Writing after recovery appends to a clean log.
    store.put_employee(tenant, &state("e3", 3)).await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.employees(tenant).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_damaged_line_before_the_last_is_an_error_not_a_forgotten_record() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t";
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for (id, user) in [("e1", 1), ("e2", 2), ("e3", 3)] {
            store.put_employee(tenant, &state(id, user)).await.unwrap();
        }
    }
    let path = dir.path().join(format!("{}.jsonl", file_name_for(tenant)));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let damaged = format!("{}\n{}\n{}\n", lines[0], &lines[1][..10], lines[2]);
    std::fs::write(&path, damaged).unwrap();

    let store = EmbeddedStore::open(dir.path()).unwrap();
    match store.employees(tenant).await {
        Err(e @ StoreError::Undecodable { .. }) => {
            assert!(e.to_string().contains("line 2 is not a record"), "{e}")
        }
        other => panic!("expected an undecodable-line error, got {other:?}"),
    }
    // Nothing was rewritten: the record is still there to be restored.
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
}

fn log_of(dir: &Path, tenant: &str) -> PathBuf {
    dir.join(format!("{}.jsonl", file_name_for(tenant)))
}

async fn three_records(dir: &Path, tenant: &str) -> Vec<String> {
    let store = EmbeddedStore::open(dir).unwrap();
    for (id, user) in [("e1", 1), ("e2", 2), ("e3", 3)] {
        store.put_employee(tenant, &state(id, user)).await.unwrap();
    }
    let text = std::fs::read_to_string(log_of(dir, tenant)).unwrap();
    text.lines().map(str::to_string).collect()
}

/// What an older build sees after a newer one added a record type without a new format.
const UNKNOWN_RECORD: &str = r#"{"format":1,"t":"employee_note","v":{"employee_id":"e9"}}"#;

#[tokio::test]
async fn every_record_carries_its_format_and_records_without_one_are_format_1() {
    let dir = tempfile::tempdir().unwrap();
    let lines = three_records(dir.path(), "t").await;
    assert!(
        lines.iter().all(|l| l.starts_with(r#"{"format":1,"t":"#)),
        "{lines:?}"
    );
    // A log written before records had a format.
    let old: Vec<String> = lines
        .iter()
        .map(|l| l.replace(r#""format":1,"#, ""))
        .collect();
    std::fs::write(log_of(dir.path(), "t"), old.join("\n") + "\n").unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.employees("t").await.unwrap().len(), 3);
    assert!(check_log(&log_of(dir.path(), "t")).unwrap().is_ok());
}

#[tokio::test]
async fn a_complete_unknown_record_is_an_error_even_as_the_last_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t";
    let lines = three_records(dir.path(), tenant).await;
    let path = log_of(dir.path(), tenant);
    for at in [1, 3] {
        let mut edited = lines.clone();
        edited.insert(at, UNKNOWN_RECORD.to_string());
        let text = edited.join("\n") + "\n";
        std::fs::write(&path, &text).unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let err = store
            .put_employee(tenant, &state("e4", 4))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, StoreError::Undecodable { lines, .. } if lines == &vec![at + 1]),
            "{message}"
        );
        assert!(
            message.contains(&format!("line {} is not a record", at + 1)),
            "{message}"
        );
        assert!(message.contains("state repair --state"), "{message}");
        assert!(!message.contains("employee_note"), "no content: {message}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "nothing written"
        );
    }
}

#[tokio::test]
async fn a_record_of_a_newer_format_is_refused_and_repair_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t";
    let mut lines = three_records(dir.path(), tenant).await;
    let path = log_of(dir.path(), tenant);
    lines[1] = lines[1].replace(r#""format":1"#, r#""format":2"#);
    let text = lines.join("\n") + "\n";
    std::fs::write(&path, &text).unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let err = store.employees(tenant).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2 was written by a newer personio-sync (format 2"),
        "{err}"
    );
    let check = check_log(&path).unwrap();
    assert_eq!(check.newer, vec![(2, 2)]);
    assert!(!check.is_ok());
    assert!(matches!(
        repair_log(&path),
        Err(StoreError::NewerFormat { line: 2, .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "left as it was"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no backup"
    );
}

#[tokio::test]
async fn repair_keeps_a_backup_and_drops_only_the_undecodable_lines() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t";
    let mut lines = three_records(dir.path(), tenant).await;
    let path = log_of(dir.path(), tenant);
    lines.insert(1, UNKNOWN_RECORD.to_string());
    lines.insert(3, "{not json".to_string());
    let text = lines.join("\n") + "\n";
    std::fs::write(&path, &text).unwrap();
    assert_eq!(check_log(&path).unwrap().undecodable, vec![2, 4]);

    let Repair::Repaired {
        dropped, backup, ..
    } = repair_log(&path).unwrap()
    else {
        panic!("repaired")
    };
    assert_eq!(dropped, vec![2, 4]);
    assert_eq!(backup.parent(), path.parent());
    assert!(backup
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("t.jsonl.backup-"));
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), text);
    assert!(check_log(&path).unwrap().is_ok());
    assert_eq!(repair_log(&path).unwrap(), Repair::Clean);
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(store.employees(tenant).await.unwrap().len(), 3);
}

#[tokio::test]
async fn compacts_superseded_records() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "t";
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..500 {
            store.put_employee(tenant, &state("e1", i)).await.unwrap();
        }
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .employee(tenant, "e1")
            .await
            .unwrap()
            .unwrap()
            .learnamp_user_id,
        Some(499)
    );
    let path = dir.path().join("t.jsonl");
    let lines = std::fs::read_to_string(path).unwrap().lines().count();
    assert!(
        lines <= 2,
        "compacted to the live records, got {lines} lines"
    );
}

#[test]
fn file_names_are_safe_and_distinct() {
    assert_eq!(file_name_for("personio:AB/c"), "personio_3aAB_2fc");
    assert_ne!(file_name_for("a:b"), file_name_for("a_3ab"));
}

/// A log read on a thread of its own is the same log: its records once loaded, and a line that
/// is not a record an error of the first read, with nothing written.
#[tokio::test]
async fn a_log_read_in_the_background_is_read_whole_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = "personio:T1";
    let lines = three_records(dir.path(), tenant).await;
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.load_in_background(tenant).unwrap();
    let employees = store.employees(tenant).await.unwrap();
    assert_eq!(employees.len(), 3);
    assert_eq!(employees["e2"].learnamp_user_id, Some(2));
    store.put_employee(tenant, &state("e4", 4)).await.unwrap();
    drop(store);
    assert_eq!(
        EmbeddedStore::open(dir.path())
            .unwrap()
            .employees(tenant)
            .await
            .unwrap()
            .len(),
        4
    );

    let damaged = format!("{}\n{UNKNOWN_RECORD}\n{}\n", lines[0], lines[2]);
    std::fs::write(log_of(dir.path(), tenant), &damaged).unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store.load_in_background(tenant).unwrap();
    match store.employees(tenant).await {
        Err(e @ StoreError::Undecodable { .. }) => {
            assert!(e.to_string().contains("line 2 is not a record"), "{e}")
        }
        other => panic!("expected an undecodable-line error, got {other:?}"),
    }
    assert!(store.put_employee(tenant, &state("e5", 5)).await.is_err());
    assert_eq!(
        std::fs::read_to_string(log_of(dir.path(), tenant)).unwrap(),
        damaged
    );
}
