//! A sink built for `rapport:connector@0.9.0`, a contract no host runs yet: the host must refuse it
//! by naming that version and the ones it runs, not with a missing-import error.

wit_bindgen::generate!({
    inline: r#"
        package rapport:connector@0.9.0;

        interface host {
            now: func() -> s64;
        }

        interface sink {
            describe: func() -> string;
        }

        world crm-sink {
            import host;
            export sink;
        }
    "#,
});

struct FutureSink;

impl exports::rapport::connector::sink::Guest for FutureSink {
    fn describe() -> String {
        format!("built at {}", rapport::connector::host::now())
    }
}

export!(FutureSink);
