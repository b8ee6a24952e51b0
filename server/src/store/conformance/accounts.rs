//! Contract checks of accounts, devices, invites and registration.

use super::*;

/// Accounts and devices: create, look up, conflicts, disable.
pub(super) fn accounts_and_devices(store: &mut dyn RelayStore) {
    let alice = add_account(store, 1, AccountRole::Client);
    let record = store.account(alice).unwrap().unwrap();
    assert_eq!(
        record,
        AccountRecord {
            account: alice,
            identity_pub: [1; 32],
            role: AccountRole::Client,
            created_at_ms: T0,
            disabled_at_ms: None,
            label: None,
        }
    );
    assert_eq!(store.account_by_identity(&[1; 32]).unwrap(), Some(record));
    assert_eq!(store.account(account_id(99)).unwrap(), None);
    assert_eq!(store.account_by_identity(&[99; 32]).unwrap(), None);

    let err = store
        .create_account(alice, [2; 32], AccountRole::Therapist, T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountExists(id)) if id == alice),
        "{err:?}"
    );
    let err = store
        .create_account(account_id(2), [1; 32], AccountRole::Therapist, T0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::IdentityKeyInUse)),
        "{err:?}"
    );
    assert_eq!(store.account(account_id(2)).unwrap(), None);

    let laptop = device_record(10, alice);
    store.register_device(&laptop).unwrap();
    let err = store.register_device(&laptop).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::DeviceExists(_))),
        "{err:?}"
    );
    let mut same_key = device_record(11, alice);
    same_key.signing_pub = laptop.signing_pub;
    let err = store.register_device(&same_key).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::SigningKeyInUse)),
        "{err:?}"
    );
    let err = store
        .register_device(&device_record(12, account_id(98)))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    let entry = store.device(laptop.device).unwrap().unwrap();
    assert_eq!(entry.record, laptop);
    assert_eq!(entry.role, AccountRole::Client);
    assert!(!entry.disabled);
    assert_eq!(store.device(device_id(97)).unwrap(), None);

    let phone = device_record(13, alice);
    store.register_device(&phone).unwrap();
    let bob = add_account(store, 3, AccountRole::Therapist);
    add_device(store, 14, bob);
    let mine: Vec<_> = store
        .devices_of(alice)
        .unwrap()
        .into_iter()
        .map(|entry| entry.record)
        .collect();
    assert_eq!(mine, [laptop.clone(), phone.clone()]);
    let listed: Vec<_> = store
        .list_devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.device, d.account, d.role, d.registered_at_ms, d.disabled))
        .collect();
    assert_eq!(
        listed,
        [
            (laptop.device, alice, AccountRole::Client, T0 + 10, false),
            (phone.device, alice, AccountRole::Client, T0 + 13, false),
            (device_id(14), bob, AccountRole::Therapist, T0 + 14, false),
        ]
    );

    store.disable_device(phone.device, T0 + 5).unwrap();
    assert!(store.device(phone.device).unwrap().unwrap().disabled);
    assert!(!store.device(laptop.device).unwrap().unwrap().disabled);
    let err = store.disable_device(device_id(96), T0).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Device(_))),
        "{err:?}"
    );

    store.disable_account(alice, T0 + 10).unwrap();
    store.disable_account(alice, T0 + 20).unwrap();
    assert_eq!(
        store.account(alice).unwrap().unwrap().disabled_at_ms,
        Some(T0 + 10)
    );
    assert!(store.device(laptop.device).unwrap().unwrap().disabled);
    assert!(!store.device(device_id(14)).unwrap().unwrap().disabled);
    let err = store
        .register_device(&device_record(15, alice))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountDisabled(id)) if id == alice),
        "{err:?}"
    );
    let err = store.disable_account(account_id(95), T0).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
}

/// An invite redeems once; every refusal reads the same outwardly but differs in its reason.
pub(super) fn invites_are_one_time(store: &mut dyn RelayStore) {
    let admin = add_account(store, 1, AccountRole::Admin);
    let invite = InviteRecord {
        hash: InviteHash([7; 32]),
        kind: AccountRole::Therapist,
        created_by: Some(admin),
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();
    let err = store.create_invite(&invite).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::InviteExists)),
        "{err:?}"
    );
    let orphan = InviteRecord {
        hash: InviteHash([8; 32]),
        created_by: Some(account_id(99)),
        ..invite.clone()
    };
    let err = store.create_invite(&orphan).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );

    assert_eq!(store.redeem_invite(&invite.hash, T0 + 1).unwrap(), invite);
    let used = store.redeem_invite(&invite.hash, T0 + 2).unwrap_err();
    assert!(matches!(used, InviteError::Used), "{used:?}");
    let unknown = store.redeem_invite(&InviteHash([9; 32]), T0).unwrap_err();
    assert!(matches!(unknown, InviteError::Unknown), "{unknown:?}");
    // The orphan was never stored.
    let err = store.redeem_invite(&orphan.hash, T0).unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");

    assert_eq!(used.to_string(), unknown.to_string());
    assert_ne!(used.reason(), unknown.reason());
    assert!(!matches!(used, InviteError::Store(_)) && !matches!(unknown, InviteError::Store(_)));
}

/// An invite is valid while `now < expires_at`; a refused redemption consumes nothing; purging
/// removes expired invites.
pub(super) fn invites_expire(store: &mut dyn RelayStore) {
    let invite = InviteRecord {
        hash: InviteHash([3; 32]),
        kind: AccountRole::Client,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();
    let expired = store.redeem_invite(&invite.hash, T0 + 1000).unwrap_err();
    assert!(matches!(expired, InviteError::Expired), "{expired:?}");
    assert_eq!(expired.to_string(), InviteError::Unknown.to_string());
    assert_eq!(expired.reason(), "invite-expired");
    // The refusal changed nothing: a (skewed) earlier clock may still redeem it, once.
    assert_eq!(store.redeem_invite(&invite.hash, T0 + 999).unwrap(), invite);
    let err = store.redeem_invite(&invite.hash, T0 + 999).unwrap_err();
    assert!(matches!(err, InviteError::Used), "{err:?}");

    let later = InviteRecord {
        hash: InviteHash([4; 32]),
        expires_at_ms: T0 + 5000,
        ..invite.clone()
    };
    store.create_invite(&later).unwrap();
    assert_eq!(
        store.purge_expired(T0 + 1000).unwrap(),
        Purged {
            pairings: 0,
            invites: 1
        }
    );
    let err = store.redeem_invite(&invite.hash, T0).unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");
    assert_eq!(store.redeem_invite(&later.hash, T0 + 1001).unwrap(), later);
}

/// Registering with an invite creates account and device and consumes the invite together, or
/// does none of it.
pub(super) fn registration_with_an_invite_is_atomic(store: &mut dyn RelayStore) {
    let therapist = add_account(store, 1, AccountRole::Therapist);
    let invite = InviteRecord {
        hash: InviteHash([5; 32]),
        kind: AccountRole::Client,
        created_by: Some(therapist),
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&invite).unwrap();

    // The identity key is taken: nothing happens, and the invite is still good.
    let clash = Registration {
        role: AccountRole::Client,
        invite: invite.hash,
        account: account_id(2),
        identity_pub: [1; 32],
        device: device_record(20, account_id(2)),
    };
    let err = store.register_with_invite(&clash, T0 + 1).unwrap_err();
    assert!(
        matches!(
            err,
            InviteError::Store(StoreError::Conflict(Conflict::IdentityKeyInUse))
        ),
        "{err:?}"
    );
    assert_eq!(store.account(account_id(2)).unwrap(), None);
    assert_eq!(store.device(device_id(20)).unwrap(), None);

    let mismatch = Registration {
        role: AccountRole::Client,
        identity_pub: [2; 32],
        device: device_record(20, account_id(3)),
        ..clash.clone()
    };
    let err = store.register_with_invite(&mismatch, T0 + 1).unwrap_err();
    assert!(
        matches!(
            err,
            InviteError::Store(StoreError::Conflict(Conflict::DeviceAccountMismatch))
        ),
        "{err:?}"
    );

    let good = Registration {
        role: AccountRole::Client,
        identity_pub: [2; 32],
        ..clash.clone()
    };
    let account = store.register_with_invite(&good, T0 + 2).unwrap();
    assert_eq!(
        account,
        AccountRecord {
            account: account_id(2),
            identity_pub: [2; 32],
            role: AccountRole::Client,
            created_at_ms: T0 + 2,
            disabled_at_ms: None,
            label: None,
        }
    );
    assert_eq!(store.account(account_id(2)).unwrap(), Some(account));
    let device = store.device(device_id(20)).unwrap().unwrap();
    assert_eq!(device.record, good.device);
    assert_eq!(device.role, AccountRole::Client);

    let again = Registration {
        role: AccountRole::Client,
        account: account_id(4),
        identity_pub: [4; 32],
        device: device_record(21, account_id(4)),
        ..good
    };
    let err = store.register_with_invite(&again, T0 + 3).unwrap_err();
    assert!(matches!(err, InviteError::Used), "{err:?}");
    assert_eq!(store.account(account_id(4)).unwrap(), None);
}

/// A registration of account `n` (identity `[n; 32]`) with device `n` through invite `invite`.
pub(super) fn registration(n: u8, invite: InviteHash, role: AccountRole) -> Registration {
    Registration {
        invite,
        account: account_id(n),
        identity_pub: [n; 32],
        device: device_record(n, account_id(n)),
        role,
    }
}

/// Staff labels: a therapist's invite carries one to its account; a client's invite or account
/// never does; malformed labels are refused. The listing shows roles, labels and device counts.
pub(super) fn staff_labels_and_account_listing(store: &mut dyn RelayStore) {
    let invite = |n: u8, kind: AccountRole, label: Option<&str>| InviteRecord {
        hash: InviteHash([n; 32]),
        kind,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: label.map(str::to_owned),
    };
    let staff = invite(1, AccountRole::Therapist, Some("Dr Ada Park"));
    store.create_invite(&staff).unwrap();
    assert_eq!(store.redeem_invite(&staff.hash, T0).unwrap(), staff);
    let staff = invite(2, AccountRole::Therapist, Some("Dr Ada Park"));
    store.create_invite(&staff).unwrap();
    let therapist = store
        .register_with_invite(
            &registration(10, staff.hash, AccountRole::Therapist),
            T0 + 1,
        )
        .unwrap();
    assert_eq!(therapist.label.as_deref(), Some("Dr Ada Park"));
    assert_eq!(store.account(account_id(10)).unwrap(), Some(therapist));

    // A client's invite takes no label, however it is spelled; nothing is stored.
    for label in ["Sam", "Dr Ada Park"] {
        let err = store
            .create_invite(&invite(3, AccountRole::Client, Some(label)))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("client"), "{err}");
    }
    let err = store.redeem_invite(&InviteHash([3; 32]), T0).unwrap_err();
    assert!(matches!(err, InviteError::Unknown), "{err:?}");
    let long = "x".repeat(crate::store::MAX_LABEL_CHARS + 1);
    for bad in [
        "",
        " Dr Ada",
        "Dr Ada ",
        "Dr\nAda",
        "Dr\u{1b}[2JAda",
        long.as_str(),
    ] {
        let err = store
            .create_invite(&invite(4, AccountRole::Therapist, Some(bad)))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err:?}");
    }
    let longest = "é".repeat(crate::store::MAX_LABEL_CHARS);
    store
        .create_invite(&invite(4, AccountRole::Therapist, Some(&longest)))
        .unwrap();

    let plain = invite(5, AccountRole::Client, None);
    store.create_invite(&plain).unwrap();
    let client = store
        .register_with_invite(&registration(20, plain.hash, AccountRole::Client), T0 + 2)
        .unwrap();
    assert_eq!(client.label, None);
    add_device(store, 21, client.account);
    let admin = add_account(store, 30, AccountRole::Admin);
    store.disable_account(client.account, T0 + 3).unwrap();

    let therapist_row = AccountSummary {
        account: account_id(10),
        role: AccountRole::Therapist,
        label: Some("Dr Ada Park".to_owned()),
        devices: 1,
        created_at_ms: T0 + 1,
        disabled_at_ms: None,
    };
    let client_row = AccountSummary {
        account: account_id(20),
        role: AccountRole::Client,
        label: None,
        devices: 2,
        created_at_ms: T0 + 2,
        disabled_at_ms: Some(T0 + 3),
    };
    let admin_row = AccountSummary {
        account: admin,
        role: AccountRole::Admin,
        label: None,
        devices: 0,
        created_at_ms: T0,
        disabled_at_ms: None,
    };
    assert_eq!(
        store.list_accounts(None).unwrap(),
        [admin_row.clone(), therapist_row.clone(), client_row.clone()]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Therapist)).unwrap(),
        [therapist_row]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Client)).unwrap(),
        [client_row]
    );
    assert_eq!(
        store.list_accounts(Some(AccountRole::Admin)).unwrap(),
        [admin_row]
    );
}

/// Disabling an account refuses all its devices at once and leaves other accounts alone;
/// enabling restores it, but not a device disabled on its own.
pub(super) fn disabling_and_enabling_accounts(store: &mut dyn RelayStore) {
    let therapist = add_account(store, 1, AccountRole::Therapist);
    let laptop = add_device(store, 11, therapist);
    let phone = add_device(store, 12, therapist);
    let client = add_account(store, 2, AccountRole::Client);
    let other = add_device(store, 21, client);
    let state = |store: &dyn RelayStore, device: DeviceId| {
        let entry = store.device(device).unwrap().unwrap();
        (entry.disabled, entry.account_disabled)
    };
    assert_eq!(state(store, laptop), (false, false));

    store.disable_device(phone, T0).unwrap();
    assert_eq!(state(store, phone), (true, false));
    store.disable_account(therapist, T0 + 1).unwrap();
    assert_eq!(state(store, laptop), (true, true));
    assert_eq!(state(store, phone), (true, true));
    assert_eq!(state(store, other), (false, false));
    assert_eq!(
        store.account(therapist).unwrap().unwrap().disabled_at_ms,
        Some(T0 + 1)
    );
    let err = store
        .register_device(&device_record(13, therapist))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::AccountDisabled(_))),
        "{err:?}"
    );

    assert!(store.enable_account(therapist).unwrap());
    assert!(!store.enable_account(therapist).unwrap());
    assert!(!store.enable_account(client).unwrap());
    assert_eq!(
        store.account(therapist).unwrap().unwrap().disabled_at_ms,
        None
    );
    assert_eq!(state(store, laptop), (false, false));
    assert_eq!(state(store, phone), (true, false));
    let err = store.enable_account(account_id(99)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
}

/// An account registered with an invite a therapist made remembers that therapist as its
/// inviter; one registered with the admin's invite has none.
pub(super) fn the_inviter_is_remembered(store: &mut dyn RelayStore) {
    let therapist_invite = InviteRecord {
        hash: InviteHash([1; 32]),
        kind: AccountRole::Therapist,
        created_by: None,
        created_at_ms: T0,
        expires_at_ms: T0 + 1000,
        label: None,
    };
    store.create_invite(&therapist_invite).unwrap();
    let ada = store
        .register_with_invite(
            &registration(2, therapist_invite.hash, AccountRole::Therapist),
            T0 + 1,
        )
        .unwrap()
        .account;
    assert_eq!(store.inviter_of(ada).unwrap(), None);

    let client_invite = InviteRecord {
        hash: InviteHash([3; 32]),
        kind: AccountRole::Client,
        created_by: Some(ada),
        ..therapist_invite.clone()
    };
    store.create_invite(&client_invite).unwrap();
    // A refused registration (wrong role) records nothing, and leaves the invite usable.
    let err = store
        .register_with_invite(
            &registration(4, client_invite.hash, AccountRole::Therapist),
            T0 + 2,
        )
        .unwrap_err();
    assert!(matches!(err, InviteError::WrongRole { .. }), "{err:?}");
    let err = store.inviter_of(account_id(4)).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Missing::Account(_))),
        "{err:?}"
    );
    let cleo = store
        .register_with_invite(
            &registration(5, client_invite.hash, AccountRole::Client),
            T0 + 3,
        )
        .unwrap()
        .account;
    assert_eq!(store.inviter_of(cleo).unwrap(), Some(ada));
    // An account created without an invite has no inviter either.
    let plain = add_account(store, 6, AccountRole::Client);
    assert_eq!(store.inviter_of(plain).unwrap(), None);
}
