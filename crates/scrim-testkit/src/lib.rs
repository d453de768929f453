//! Test support shared by Scrim's crates (a dev-dependency only).
//!
//! Some tests check Scrim against independent implementations written in Python (the
//! official OpenTelemetry SDK, `pyotp`). On a machine without them such a test prints why it
//! is skipped and passes; CI installs them and sets the package's `require_env` variable,
//! which turns a missing package into a failure, so nothing is skipped there.

use std::process::Command;

/// A Python package a test needs.
#[derive(Debug, Clone, Copy)]
pub struct PythonPackage {
    /// What to call it in messages.
    pub name: &'static str,
    /// The Python statement that must succeed, e.g. `import pyotp`.
    pub import: &'static str,
    /// How to install it.
    pub install: &'static str,
    /// Set (to anything) where the package is required: CI.
    pub require_env: &'static str,
}

/// The OpenTelemetry Python SDK with its OTLP/gRPC and OTLP/HTTP exporters.
pub const OTEL_SDK: PythonPackage = PythonPackage {
    name: "the OpenTelemetry Python SDK",
    import: "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc, \
             opentelemetry.exporter.otlp.proto.http",
    install: "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-grpc \
              opentelemetry-exporter-otlp-proto-http",
    require_env: "SCRIM_REQUIRE_PYTHON_OTEL",
};

/// The OTLP protobuf definitions as generated for Python (`opentelemetry-proto`), with
/// `google.protobuf.json_format`: the official protobuf JSON mapping. The SDK's exporters
/// depend on it, so CI's SDK install brings it and sets the same variable.
pub const OTEL_PROTO: PythonPackage = PythonPackage {
    name: "opentelemetry-proto (Python)",
    import: "import opentelemetry.proto.collector.trace.v1.trace_service_pb2, \
             opentelemetry.proto.collector.logs.v1.logs_service_pb2, \
             google.protobuf.json_format",
    install: "pip install opentelemetry-proto",
    require_env: "SCRIM_REQUIRE_PYTHON_OTEL",
};

/// `pyotp`, an independent TOTP implementation.
pub const PYOTP: PythonPackage = PythonPackage {
    name: "pyotp",
    import: "import pyotp",
    install: "pip install pyotp",
    require_env: "SCRIM_REQUIRE_PYOTP",
};

/// The interpreter: `$SCRIM_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("SCRIM_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `None` when `package` is importable, else why not.
pub fn python_package_missing(package: &PythonPackage) -> Option<String> {
    match Command::new(python()).args(["-c", package.import]).output() {
        Err(e) => Some(format!("cannot run {}: {e}", python())),
        Ok(out) if !out.status.success() => Some(format!(
            "{} is not importable by {}: {}",
            package.name,
            python(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Ok(_) => None,
    }
}

/// True when `package` can be used. Otherwise prints why `test` is skipped and returns
/// false, unless the package's `require_env` is set, where it panics.
pub fn python_package_available(test: &str, package: &PythonPackage) -> bool {
    let Some(reason) = python_package_missing(package) else {
        return true;
    };
    assert!(
        std::env::var_os(package.require_env).is_none(),
        "{} is set but {reason}",
        package.require_env
    );
    eprintln!(
        "SKIPPED {test}: {reason}. Install with: {}",
        package.install
    );
    false
}
