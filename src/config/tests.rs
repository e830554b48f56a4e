use super::*;

const EXAMPLE: &str = include_str!("../../tuning/wampyard.example.toml");

/// Parses as on a machine with `cpus` online CPUs.
fn parse_on(text: &str, cpus: usize) -> Result<Config, ConfigError> {
    Config::from_toml_str_for(text, cpus)
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_on(text, 4)
}

/// The key an `Invalid` error names, or the message of a `Parse` error.
fn error_of(text: &str) -> (String, String) {
    match parse(text) {
        Err(ConfigError::Invalid { key, reason }) => (key, reason),
        Err(ConfigError::Parse(message)) => ("<parse>".to_string(), message),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn invalid_key(text: &str) -> String {
    error_of(text).0
}

/// The example with every `#key = value` / `#[[table]]` alternative line switched on.
fn example_with_alternatives() -> String {
    EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_file_spells_out_the_defaults() {
    assert_eq!(parse(EXAMPLE).unwrap(), Config::default());
}

#[test]
fn example_file_alternatives_parse_to_what_their_comments_say() {
    let config = parse(&example_with_alternatives()).unwrap();
    assert_eq!(config.router.shards, Some(2));
    assert_eq!(config.router.cpus, Some(vec![0, 1]));
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners[0].shards, Some(vec![0]));
    assert_eq!(
        config.listeners[1],
        ListenerConfig {
            endpoint: Endpoint::Unix { path: PathBuf::from("/tmp/wampyard.sock") },
            transports: Transports { websocket: false, rawsocket: true },
            serializers: vec![Serializer::MsgPack, Serializer::Cbor],
            shards: Some(vec![0, 1]),
            // The first listener takes tickets: anonymous sessions get made-up authids everywhere.
            auth: ListenerAuth {
                anonymous: Some(AnonymousAuth { role: "anonymous".into(), keep_authid: false }),
                ..ListenerAuth::default()
            },
            allowed_origins: AllowedOrigins::SameHost,
        }
    );
    assert_eq!(config.resolve_shards(8), (2, Some(vec![0, 1])));
    let rule = HistoryRule { topic: "com.example.log".into(), policy: MatchPolicy::Prefix, limit: 1000 };
    assert_eq!(config.realms[0].history, vec![rule]);
    let principals = &config.listeners[0].auth.ticket.as_ref().unwrap().principals;
    assert_eq!((principals[0].authid.as_str(), principals[0].role.as_str()), ("backend", "backend"));
    assert!(principals[0].ticket.matches("change-me"));
    let device = &config.listeners[0].auth.cryptosign.as_ref().unwrap().principals[0];
    assert_eq!((device.authid.as_str(), device.keys[0][0], device.keys[0][31]), ("device-1", 0x4a, 0xa6));
    let cra = &config.listeners[0].auth.wampcra.as_ref().unwrap().principals[0];
    let salting = Salting { salt: "salt123".into(), iterations: 1000, keylen: 32 };
    assert_eq!((cra.salt.as_ref(), &cra.key), (Some(&salting), &wampcra_key("change-me-too", Some(&salting))));
    assert_eq!(config.realms[0].roles[0].name, "backend");
    assert!(config.realms[0].roles[0].permissions[0].allow.allows(Action::Publish));
}

#[test]
fn anonymous_authids_are_kept_only_where_no_listener_takes_credentials() {
    let anon = |c: &Config, i: usize| c.listeners[i].auth.anonymous.as_ref().unwrap().keep_authid;
    let open = parse("[[listener]]\nport = 0\n").unwrap();
    assert!(anon(&open, 0));
    let ticket =
        "[listener.auth.ticket]\n[[listener.auth.ticket.principal]]\nauthid = \"a\"\nticket = \"t\"\nrole = \"r\"\n";
    let mixed =
        parse(&format!("[[listener]]\nport = 0\n[[listener]]\nport = 0\n[listener.auth.anonymous]\n{ticket}")).unwrap();
    assert!(!anon(&mixed, 0) && !anon(&mixed, 1), "credentials on any listener: made-up authids everywhere");
    let kept =
        parse(&format!("[[listener]]\nport = 0\n[listener.auth.anonymous]\nkeep_authid = true\n{ticket}")).unwrap();
    assert!(anon(&kept, 0), "unless a listener says otherwise");
}

#[test]
fn a_listener_auth_table_accepts_exactly_the_methods_it_lists() {
    let text = "[[listener]]\nport = 0\n[listener.auth.ticket]\n[[listener.auth.ticket.principal]]\nauthid = \"a\"\nticket = \"t\"\nrole = \"r\"\n";
    let auth = &parse(text).unwrap().listeners[0].auth;
    assert!(auth.anonymous.is_none() && auth.ticket.is_some());
    assert!(!format!("{auth:?}").contains("\"t\""), "the ticket is not shown");
}

#[test]
fn allowed_origins_default_to_the_same_host_and_a_star_allows_all() {
    let origins =
        |line: &str| parse(&format!("[[listener]]\nport = 0\n{line}")).unwrap().listeners[0].allowed_origins.clone();
    assert_eq!(origins(""), AllowedOrigins::SameHost);
    assert_eq!(origins("allowed_origins = [\"*\"]"), AllowedOrigins::Any);
    assert_eq!(
        origins("allowed_origins = [\"https://a.example\"]"),
        AllowedOrigins::List(vec!["https://a.example".into()])
    );
}

#[test]
fn cryptosign_keys_must_be_ed25519_public_keys_in_hex() {
    let sign = |keys: &str| {
        format!("[[listener]]\nport = 0\n[listener.auth.cryptosign]\n[[listener.auth.cryptosign.principal]]\nauthid = \"a\"\nrole = \"r\"\nauthorized_keys = {keys}\n")
    };
    assert!(parse(&sign(&format!("[\"{}\"]", "ab".repeat(32)))).is_ok());
    for bad in ["[]", "[\"abcd\"]", &format!("[\"{}\"]", "zz".repeat(32))] {
        assert_eq!(invalid_key(&sign(bad)), "listener[0].auth.cryptosign.principal[0].authorized_keys", "{bad}");
    }
}

#[test]
fn wampcra_salting_parameters_are_checked() {
    let cra = |extra: &str| {
        format!("[[listener]]\nport = 0\n[listener.auth.wampcra]\n[[listener.auth.wampcra.principal]]\nauthid = \"a\"\nsecret = \"s\"\nrole = \"r\"\n{extra}")
    };
    assert!(parse(&cra("")).unwrap().listeners[0].auth.wampcra.as_ref().unwrap().principals[0].salt.is_none());
    assert_eq!(invalid_key(&cra("iterations = 5\n")), "listener[0].auth.wampcra.principal[0].salt");
    assert_eq!(invalid_key(&cra("salt = \"x\"\niterations = 0\n")), "listener[0].auth.wampcra.principal[0].iterations");
    assert_eq!(invalid_key(&cra("salt = \"x\"\nkeylen = 0\n")), "listener[0].auth.wampcra.principal[0].keylen");
}

#[test]
fn roles_and_principals_are_checked_and_errors_name_the_key() {
    let realm = "[[realm]]\nname = \"a\"\n[[realm.role]]\nname = \"r\"\n";
    for (tail, key) in [
        ("[[realm.role.permission]]\nuri = \"com..x\"\nallow = [\"call\"]\n", "realm[0].role[0].permission[0].uri"),
        ("[[realm.role.permission]]\nuri = \"com.x\"\nallow = [\"fly\"]\n", "realm[0].role[0].permission[0].allow"),
        ("[[realm.role]]\nname = \"r\"\n", "realm[0].role[1].name"),
    ] {
        assert_eq!(invalid_key(&format!("{realm}{tail}")), key, "{tail}");
    }
    let principal = |role: &str, realm: &str| {
        format!("[[listener]]\nport = 0\n[listener.auth.ticket]\n[[listener.auth.ticket.principal]]\nauthid = \"a\"\nticket = \"t\"\nrole = \"{role}\"\nrealm = \"{realm}\"\n{realm_table}", realm_table = "[[realm]]\nname = \"a\"\n[[realm.role]]\nname = \"r\"\n")
    };
    assert!(parse(&principal("r", "a")).is_ok());
    assert_eq!(invalid_key(&principal("nope", "a")), "listener[0].auth.ticket.principal[0].role");
    assert_eq!(invalid_key(&principal("r", "b")), "listener[0].auth.ticket.principal[0].realm");
}

#[test]
fn embedded_default_has_one_local_listener_and_realm1() {
    let config = Config::default();
    assert_eq!(config.listeners.len(), 1);
    let listener = &config.listeners[0];
    assert_eq!(listener.endpoint, Endpoint::Tcp { address: "127.0.0.1".parse().unwrap(), port: 8080 });
    assert_eq!(listener.transports, Transports { websocket: true, rawsocket: true });
    assert_eq!(listener.serializers, Serializer::ALL);
    assert_eq!(listener.shards, None);
    assert_eq!(
        config.realms,
        [RealmConfig { name: "realm1".to_string(), uri_check: UriCheck::Loose, ..RealmConfig::default() }]
    );
    config.validate(1).unwrap();
}

#[test]
fn empty_file_means_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn default_limits_and_router_options_are_the_named_constants() {
    let config = Config::default();
    assert_eq!(config.limits.max_message_size, 1024 * 1024);
    assert_eq!(config.limits.handshake_timeout, Duration::from_secs(5));
    assert_eq!(config.limits.outbox_max_bytes, 16 * 1024 * 1024);
    assert_eq!(config.limits.shard_inbox_capacity, 4096);
    assert_eq!(config.router.shards, None);
    assert_eq!(config.router.cpus, None);
    assert!(config.router.pin);
    assert_eq!(config.router.shutdown_timeout, Duration::from_secs(5));
}

#[test]
fn millisecond_keys_become_durations() {
    let config = parse("[router]\nshutdown_timeout_ms = 250\n[limits]\nhandshake_timeout_ms = 1500\n").unwrap();
    assert_eq!(config.router.shutdown_timeout, Duration::from_millis(250));
    assert_eq!(config.limits.handshake_timeout, Duration::from_millis(1500));
}

#[test]
fn listener_keys_left_out_take_their_defaults() {
    let config = parse("[[listener]]\nport = 0\n[[listener]]\naddress = \"::1\"\nport = 9000\n").unwrap();
    assert_eq!(config.listeners[0].endpoint, Endpoint::Tcp { address: DEFAULT_ADDRESS, port: 0 });
    assert_eq!(config.listeners[0].transports, Transports::default());
    assert_eq!(config.listeners[0].serializers, Serializer::ALL);
    assert_eq!(config.listeners[1].endpoint, Endpoint::Tcp { address: "::1".parse().unwrap(), port: 9000 });
}

#[test]
fn realms_are_read_with_their_uri_check() {
    let config = parse("[[realm]]\nname = \"com.example\"\nuri_check = \"strict\"\n[[realm]]\nname = \"b\"\n").unwrap();
    assert_eq!(config.realms[0].uri_check, UriCheck::Strict);
    assert_eq!(config.realms[1].uri_check, UriCheck::Loose);
}

#[test]
fn realms_may_ask_for_sequential_request_ids() {
    let config = parse("[[realm]]\nname = \"a\"\nsequential_request_ids = true\n[[realm]]\nname = \"b\"\n").unwrap();
    assert!(config.realms[0].sequential_request_ids);
    assert!(!config.realms[1].sequential_request_ids);
}

#[test]
fn history_rules_are_checked_topic_match_and_limit() {
    let ok = parse("[[realm]]\nname = \"a\"\n[[realm.history]]\ntopic = \"com..x\"\nmatch = \"wildcard\"\nlimit = 5\n");
    assert_eq!(ok.unwrap().realms[0].history[0].policy, MatchPolicy::Wildcard);
    for (rule, key) in [
        ("topic = \"com..x\"\nlimit = 5", "realm[0].history[0].topic"),
        ("topic = \"wamp.session.on_join\"\nlimit = 5", "realm[0].history[0].topic"),
        ("topic = \"com.x\"\nlimit = 0", "realm[0].history[0].limit"),
        ("topic = \"com.x\"\nlimit = 100001", "realm[0].history[0].limit"),
        ("topic = \"com.x\"\nmatch = \"regex\"\nlimit = 5", "realm[0].history[0].match"),
    ] {
        let text = format!("[[realm]]\nname = \"a\"\n[[realm.history]]\n{rule}\n");
        assert_eq!(invalid_key(&text), key, "{rule}");
    }
}

#[test]
fn retained_store_limits_are_read_and_hold_one_message() {
    let config = parse("[limits]\nretained_max_events = 3\nretained_max_bytes = 2000000\n").unwrap();
    assert_eq!((config.limits.retained_max_events, config.limits.retained_max_bytes), (3, 2_000_000));
    assert_eq!(invalid_key("[limits]\nretained_max_bytes = 10\n"), "limits.retained_max_bytes");
}

#[test]
fn call_limits_are_read_and_must_be_positive() {
    let config = parse("[limits]\nmax_calls_per_session = 7\nmax_invocations_per_session = 9\n").unwrap();
    assert_eq!((config.limits.max_calls_per_session, config.limits.max_invocations_per_session), (7, 9));
    assert_eq!(invalid_key("[limits]\nmax_calls_per_session = 0\n"), "limits.max_calls_per_session");
    assert_eq!(invalid_key("[limits]\nmax_invocations_per_session = 0\n"), "limits.max_invocations_per_session");
}

#[test]
fn shards_default_to_online_cpus_then_to_the_cpu_list() {
    assert_eq!(Config::default().resolve_shards(3), (3, Some(vec![0, 1, 2])));
    assert_eq!(Config::default().resolve_shards(0), (1, Some(vec![0])));
    let config = parse("[router]\ncpus = [5, 7]\n").unwrap();
    assert_eq!(config.resolve_shards(16), (2, Some(vec![5, 7])));
    let config = parse("[router]\nshards = 2\ncpus = [5, 7, 9]\n").unwrap();
    assert_eq!(config.resolve_shards(16), (2, Some(vec![5, 7])));
}

#[test]
fn more_shards_than_cpus_share_cpus_round_robin() {
    let config = parse("[router]\nshards = 5\n").unwrap();
    assert_eq!(config.resolve_shards(2), (5, Some(vec![0, 1, 0, 1, 0])));
}

#[test]
fn pin_false_resolves_to_no_cpus() {
    let config = parse("[router]\nshards = 3\npin = false\n").unwrap();
    assert_eq!(config.resolve_shards(8), (3, None));
}

#[test]
fn unknown_keys_are_rejected_by_name_in_every_table() {
    for (text, name) in [
        ("bogus = 1\n", "bogus"),
        ("[router]\nshard = 2\n", "shard"),
        ("[limits]\nmax_msg_size = 600\n", "max_msg_size"),
        ("[[listener]]\nport = 1\nhost = \"x\"\n", "host"),
        ("[[realm]]\nname = \"a\"\nstrict = true\n", "strict"),
    ] {
        let (key, message) = error_of(text);
        assert_eq!(key, "<parse>", "{text}");
        assert!(message.contains(&format!("`{name}`")), "{text}: {message}");
    }
}

#[test]
fn shards_zero_is_rejected() {
    assert_eq!(invalid_key("[router]\nshards = 0\n"), "router.shards");
}

#[test]
fn cpu_list_must_cover_every_shard_once() {
    assert_eq!(invalid_key("[router]\nshards = 3\ncpus = [0, 1]\n"), "router.cpus");
    assert_eq!(invalid_key("[router]\ncpus = [1, 1]\n"), "router.cpus");
    assert_eq!(invalid_key("[router]\ncpus = []\n"), "router.cpus");
    assert_eq!(invalid_key("[router]\ncpus = [0]\npin = false\n"), "router.cpus");
}

#[test]
fn max_message_size_must_be_negotiable_by_rawsocket() {
    for bad in [0, 511, 16 * 1024 * 1024 + 1] {
        let (key, reason) = error_of(&format!("[limits]\nmax_message_size = {bad}\n"));
        assert_eq!(key, "limits.max_message_size");
        assert!(reason.contains(&bad.to_string()), "{reason}");
    }
    for good in [512, 16 * 1024 * 1024] {
        let text = format!("[limits]\nmax_message_size = {good}\noutbox_max_bytes = {good}\n");
        assert_eq!(parse(&text).unwrap().limits.max_message_size, good);
    }
}

#[test]
fn other_limits_are_checked_by_name() {
    assert_eq!(invalid_key("[limits]\nhandshake_timeout_ms = 0\n"), "limits.handshake_timeout_ms");
    assert_eq!(invalid_key("[limits]\nshard_inbox_capacity = 0\n"), "limits.shard_inbox_capacity");
    assert_eq!(invalid_key("[limits]\nmax_message_size = 2048\noutbox_max_bytes = 1024\n"), "limits.outbox_max_bytes");
}

#[test]
fn listener_needs_exactly_one_of_port_and_unix() {
    assert_eq!(invalid_key("[[listener]]\nport = 1\nunix = \"/tmp/a.sock\"\n"), "listener[0]");
    assert_eq!(invalid_key("[[listener]]\nport = 1\n[[listener]]\naddress = \"::\"\n"), "listener[1]");
    assert_eq!(invalid_key("[[listener]]\nunix = \"/tmp/a.sock\"\naddress = \"::\"\n"), "listener[0].address");
}

#[test]
fn listener_address_must_be_an_ip_address() {
    let (key, reason) = error_of("[[listener]]\naddress = \"localhost\"\nport = 1\n");
    assert_eq!(key, "listener[0].address");
    assert!(reason.contains("localhost"), "{reason}");
}

#[test]
fn unix_socket_path_must_fit_sun_path() {
    let long = format!("/tmp/{}", "x".repeat(MAX_UNIX_PATH_LEN));
    assert_eq!(invalid_key(&format!("[[listener]]\nunix = \"{long}\"\n")), "listener[0].unix");
    assert_eq!(invalid_key("[[listener]]\nunix = \"\"\n"), "listener[0].unix");
}

#[test]
fn listener_shards_must_exist() {
    let (key, reason) = error_of("[router]\nshards = 2\n[[listener]]\nport = 1\nshards = [0, 2]\n");
    assert_eq!(key, "listener[0].shards");
    assert!(reason.contains("shard 2"), "{reason}");
    let on_two_cpus = parse_on("[[listener]]\nunix = \"/tmp/a.sock\"\nshards = [1, 2]\n", 2);
    assert!(matches!(on_two_cpus, Err(ConfigError::Invalid { key, .. }) if key == "listener[0].shards"));
    assert!(parse_on("[[listener]]\nunix = \"/tmp/a.sock\"\nshards = [1, 2]\n", 3).is_ok());
    assert_eq!(invalid_key("[[listener]]\nport = 1\nshards = []\n"), "listener[0].shards");
    assert_eq!(invalid_key("[[listener]]\nport = 1\nshards = [1, 1]\n"), "listener[0].shards");
}

#[test]
fn unknown_transport_is_named() {
    let (key, reason) = error_of("[[listener]]\nport = 1\ntransports = [\"websocket\", \"longpoll\"]\n");
    assert_eq!(key, "listener[0].transports");
    assert!(reason.contains("`longpoll`"), "{reason}");
    assert_eq!(invalid_key("[[listener]]\nport = 1\ntransports = []\n"), "listener[0].transports");
}

#[test]
fn unknown_serializer_is_named() {
    let (key, reason) = error_of("[[listener]]\nport = 1\nserializers = [\"json\", \"ubjson\"]\n");
    assert_eq!(key, "listener[0].serializers");
    assert!(reason.contains("`ubjson`"), "{reason}");
}

#[test]
fn serializers_must_be_listed_once_and_not_be_empty() {
    assert_eq!(invalid_key("[[listener]]\nport = 1\nserializers = []\n"), "listener[0].serializers");
    assert_eq!(invalid_key("[[listener]]\nport = 1\nserializers = [\"cbor\", \"cbor\"]\n"), "listener[0].serializers");
}

#[test]
fn two_listeners_on_one_address_are_rejected() {
    let text = "[[listener]]\nport = 9000\n[[listener]]\naddress = \"127.0.0.1\"\nport = 9000\n";
    assert_eq!(invalid_key(text), "listener[1]");
    assert!(parse("[[listener]]\nport = 0\n[[listener]]\nport = 0\n").is_ok());
    assert_eq!(invalid_key("[[listener]]\nunix = \"/tmp/a\"\n[[listener]]\nunix = \"/tmp/a\"\n"), "listener[1]");
}

#[test]
fn realm_names_must_be_valid_and_unique() {
    assert_eq!(invalid_key("[[realm]]\nname = \"my realm\"\n"), "realm[0].name");
    assert_eq!(invalid_key("[[realm]]\nname = \"a..b\"\n"), "realm[0].name");
    assert_eq!(
        invalid_key("[[realm]]\nname = \"a\"\n[[realm]]\nname = \"b\"\n[[realm]]\nname = \"a\"\n"),
        "realm[2].name"
    );
}

#[test]
fn unknown_uri_check_is_a_parse_error_naming_the_value() {
    let (key, message) = error_of("[[realm]]\nname = \"a\"\nuri_check = \"paranoid\"\n");
    assert_eq!(key, "<parse>");
    assert!(message.contains("paranoid") && message.contains("uri_check"), "{message}");
}

#[test]
fn invalid_error_message_names_the_key() {
    let err = parse("[router]\nshards = 0\n").unwrap_err();
    assert!(err.to_string().contains("`router.shards`"), "{err}");
}

#[test]
fn load_reports_a_missing_file_with_its_path() {
    let path = Path::new("/nonexistent/wampyard-test.toml");
    match Config::load(path) {
        Err(err @ ConfigError::Io { .. }) => {
            assert!(err.to_string().contains("wampyard-test.toml"), "{err}")
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn load_reads_and_validates_a_file() {
    let path = std::env::temp_dir().join(format!("wampyard-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, "[[realm]]\nname = \"com.example\"\n").unwrap();
    let loaded = Config::load(&path);
    std::fs::write(&path, "[router]\nbogus = 1\n").unwrap();
    let bad = Config::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap().realms[0].name, "com.example");
    match bad {
        Err(ConfigError::Parse(message)) => {
            assert!(message.contains("wampyard-config-test") && message.contains("bogus"), "{message}")
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
