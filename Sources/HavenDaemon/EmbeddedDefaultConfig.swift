/// The configuration havend uses when no file is given and none exists at the
/// mode's default path. Every key is documented in Docs/operations.md.
enum EmbeddedDefaultConfig {
    static let name = "embedded default config"

    static let text = """
    [daemon]
    # mode = "desktop"          # or "server"; --mode overrides
    log_level = "info"

    [limits]
    max_concurrent_calls_per_connection = 128
    idle_timeout_seconds = 300
    partial_frame_timeout_seconds = 10
    shutdown_grace_seconds = 10

    [plugins]
    enabled = ["screening", "referrals", "reporting"]
    required = []
    """
}
