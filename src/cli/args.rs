//! Command-line arguments (clap). Names here are a public interface: tests
//! outside the project rely on them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// forkmail: interactive fork sessions of microVM standby snapshots.
///
/// Without a subcommand, opens the terminal UI on the store.
#[derive(Debug, Parser)]
#[command(name = "forkmail", version, about, long_about = None, after_help = after_help())]
pub struct Cli {
    /// Store directory (default: $FORKMAIL_STORE, else $XDG_DATA_HOME/forkmail).
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// A read-only snapshot source: a Hypeman data directory, a snapshot
    /// directory or a memory file. Repeatable; also $FORKMAIL_SOURCES
    /// (colon-separated); /var/lib/hypeman is added when it is readable.
    #[arg(long = "source", global = true, value_name = "DIR")]
    pub sources: Vec<PathBuf>,
    /// Subcommand; none opens the TUI.
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn after_help() -> String {
    let log = crate::cli::log_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no state directory)".into());
    format!("Logs: {log}\nRun `forkmail demo` to try it on a built-in demo store.")
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List snapshots: the store's and every source's, grouped by source.
    Snapshots {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List every mailbox marker in a snapshot (store name, SOURCE/NAME, directory or memory file).
    Markers {
        /// Store snapshot name, SOURCE/NAME, snapshot directory, or memory file (raw, .zst, .lz4).
        target: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create templates (standby snapshots).
    Template {
        /// What to do.
        #[command(subcommand)]
        action: TemplateAction,
    },
    /// Fork a snapshot: copy, preflight, patch, restore, wait for acks.
    Fork(ForkArgs),
    /// Copy a read-only source snapshot into the store, so it can be forked.
    Import(ImportArgs),
    /// List forks and whether they run.
    Forks {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the guest conformance suite: does the snapshot's guest honour the mailbox contract?
    Check(CheckArgs),
    /// Stop a running fork (it stays on disk).
    Stop {
        /// Fork name.
        fork: String,
    },
    /// Remove a fork (stopping it first if it runs).
    Rm {
        /// Fork name.
        fork: String,
    },
    /// Create the demo store (if missing) and open the TUI on it.
    Demo {
        /// Only create the demo store and print what it holds.
        #[arg(long)]
        no_tui: bool,
    },
    /// Build guest images for real VMs (qemu).
    Image {
        /// What to do.
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Check what real VMs need: QEMU, acceleration, reflink, a guest image.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show where forkmail keeps its store, logs and drafts.
    Paths {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clean up after crashes: stop and remove interrupted and broken forks.
    Gc {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the config file's path, or write a commented default config.
    Config(ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `forkmail man | man -l -`.
    Man,
    /// Run the simulated guest of a fork (started by the sim VMM, not by people).
    #[command(name = "sim-guest", hide = true)]
    SimGuest(SimGuestArgs),
}

/// Arguments of `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Write a commented default config file to stdout
    /// (`forkmail config --print-default > ~/.config/forkmail/config.toml`).
    #[arg(long)]
    pub print_default: bool,
}

/// Arguments of the hidden `sim-guest` subcommand.
#[derive(Debug, Args)]
pub struct SimGuestArgs {
    /// The memory file.
    #[arg(long)]
    pub memory: PathBuf,
    /// The sim state file.
    #[arg(long)]
    pub state: PathBuf,
    /// The guest log.
    #[arg(long)]
    pub log: PathBuf,
    /// Map the memory privately (zero-copy fork).
    #[arg(long)]
    pub private: bool,
}

/// `template` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplateAction {
    /// Create a standby snapshot with armed mailboxes.
    Create(Box<TemplateCreateArgs>),
}

/// Arguments of `template create`.
#[derive(Debug, Args)]
pub struct TemplateCreateArgs {
    /// Snapshot name (lowercase letters, digits, '-').
    pub name: String,
    /// Mailbox to arm, NAME or NAME:TOKEN (token generated when omitted). Repeatable.
    #[arg(long = "mailbox", value_name = "NAME[:TOKEN]")]
    pub mailboxes: Vec<String>,
    /// Your own guest (qemu): snapshot as soon as this marker is in the guest's memory,
    /// found by scanning it while it boots. Repeatable; instead of --mailbox.
    #[arg(long = "wait-for-marker", value_name = "NAME[:TOKEN]")]
    pub wait_for_markers: Vec<String>,
    /// Kernel to boot (qemu; with --initrd, instead of --image).
    #[arg(long, value_name = "PATH", requires = "initrd")]
    pub kernel: Option<PathBuf>,
    /// Initramfs to boot (qemu; with --kernel).
    #[arg(long, value_name = "PATH", requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// More kernel command line (qemu), after console=ttyS0.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub append: Option<String>,
    /// A raw disk image attached read-only as a virtio block device (qemu).
    #[arg(long, value_name = "IMG")]
    pub disk: Option<PathBuf>,
    /// Address forks' ack sockets bind by default (kept in snapshot.json; default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub ack_bind: Option<std::net::IpAddr>,
    /// Guest memory size (e.g. 1G, 512M).
    #[arg(long, default_value = "1G", value_name = "SIZE")]
    pub memory: String,
    /// Also arm a resume-network mailbox with this token.
    #[arg(long, value_name = "TOKEN")]
    pub resume_network_token: Option<String>,
    /// Make the simulated guest misbehave for a mailbox: NAME=no-ack|slow:MS|bad-ack|crash.
    #[arg(long = "guest-fault", value_name = "NAME=KIND")]
    pub guest_faults: Vec<String>,
    /// Leave a stray second copy of a mailbox's marker (duplicate marker QA).
    #[arg(long = "stray-copy", value_name = "NAME")]
    pub stray_copies: Vec<String>,
    /// Share of guest pages holding data, in percent.
    #[arg(long, default_value_t = 3.0, value_name = "PERCENT")]
    pub data_percent: f64,
    /// VMM of the template.
    #[arg(long, default_value = "sim", value_parser = ["sim", "qemu"])]
    pub vmm: String,
    /// Guest image to boot (qemu; default: "default").
    #[arg(long, value_name = "NAME", conflicts_with = "kernel")]
    pub image: Option<String>,
    /// Acceleration (qemu): auto = KVM only when /dev/kvm opens and the CPU has vmx/svm.
    #[arg(long, default_value = "auto", value_parser = ["auto", "kvm", "tcg"])]
    pub accel: String,
    /// Seconds the guest may take to boot and arm (qemu).
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    pub boot_timeout: u64,
    /// What the template is for, in one line (shown in the TUI).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Build a guest image: kernel + initramfs with busybox, virtio modules and forkmail-guest.
    Build(ImageBuildArgs),
}

/// Arguments of `image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// Image name.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Kernel (default: Debian's linux-image-*-amd64, fetched with apt-get download).
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Directory holding the virtio .ko modules (default: from the Debian kernel package).
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Static busybox (default: Debian's busybox-static).
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
    /// forkmail-guest to pack (default: the one beside forkmail; a dynamically
    /// linked one comes with the shared libraries and loader it needs).
    #[arg(long, value_name = "PATH")]
    pub guest: Option<PathBuf>,
    /// A program of your own to run as the guest instead of forkmail-guest (static, or packed with its libraries)
    /// (it arms its own mailboxes: make templates with --wait-for-marker).
    #[arg(long, value_name = "PATH", conflicts_with = "guest")]
    pub program: Option<PathBuf>,
    /// Replace an existing image of that name.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `fork`.
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// Source snapshot name.
    pub snapshot: String,
    /// Fork name (default: <snapshot>-<random>).
    #[arg(long)]
    pub name: Option<String>,
    /// Payload for a mailbox: NAME=JSON or NAME=@FILE. Repeatable.
    #[arg(long = "payload", value_name = "NAME=JSON|NAME=@FILE")]
    pub payloads: Vec<String>,
    /// Wait for the guest's ack for a mailbox, with an optional timeout in ms (default 5000, max 30000).
    #[arg(long = "ack", value_name = "NAME[=TIMEOUT_MS]")]
    pub acks: Vec<String>,
    /// Token for a mailbox (default: the one discovery finds).
    #[arg(long = "token", value_name = "NAME=TOKEN")]
    pub tokens: Vec<String>,
    /// Stop after patch: keep the patched fork on disk, do not start it.
    #[arg(long)]
    pub no_restore: bool,
    /// Map the template privately and patch the paused guest (no copy).
    #[arg(long)]
    pub zero_copy: bool,
    /// Address the ack sockets bind (default: the template's, else 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub ack_bind: Option<std::net::IpAddr>,
    /// With --no-restore: write the patched fork to DIR for your own VMM to
    /// restore, in the snapshot's layout (Firecracker: memory + state;
    /// Cloud Hypervisor: memory-ranges + config.json + state.json), every
    /// path in its device state pointing into DIR (disks copied to DIR/files),
    /// with RESTORE.md and restore.json saying how.
    #[arg(long, value_name = "DIR", requires = "no_restore")]
    pub export: Option<PathBuf>,
    /// With --export, for experts: write the device state unchanged, naming
    /// the source's disks, sockets and files (restoring it opens the
    /// source instance's writable disks); no disks are copied.
    #[arg(long, requires = "export")]
    pub keep_source_paths: bool,
    /// Fan-out: make N forks, named <name>-0 … <name>-(N-1); {{i}}, {{fork}}
    /// and {{uuid}} in payloads expand per fork.
    #[arg(long, value_name = "N", conflicts_with = "matrix")]
    pub count: Option<usize>,
    /// Fan-out: one fork per line of a JSON Lines file ({"name", "payloads", "ack"}).
    #[arg(long, value_name = "FILE", conflicts_with = "payloads")]
    pub matrix: Option<PathBuf>,
    /// Fan-out: sessions at a time.
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub parallel: usize,
    /// Fan-out: when a fork fails, keep the others (default: stop and remove them all).
    #[arg(long)]
    pub keep_going: bool,
    /// Start the VMM first, waiting for its state, so restore only loads,
    /// patches and resumes (qemu; the simulator's start is already cheap).
    #[arg(long)]
    pub prestart: bool,
    /// Print one JSON object per event line.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The snapshot: SOURCE/NAME (or SOURCE/ID), or a snapshot directory or memory file.
    pub snapshot: String,
    /// Name in the store (default: the snapshot's own name, if it follows the naming rule).
    #[arg(long)]
    pub name: Option<String>,
    /// Compressed memory whose size the snapshot does not record is decompressed up to this
    /// size (e.g. 128G; default 64G): a few KiB of zstd can hold a TiB of zeros. A recorded
    /// size is always the limit.
    #[arg(long, value_name = "SIZE", value_parser = crate::units::parse_size)]
    pub max_memory: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Snapshot whose guest is checked.
    pub snapshot: String,
    /// Check only these mailboxes (default: every fork mailbox of the snapshot). Repeatable.
    #[arg(long = "mailbox", value_name = "NAME")]
    pub mailboxes: Vec<String>,
    /// Deadline for each ack, and the grace period for a mailbox without one (ms).
    #[arg(long, value_name = "MS", default_value_t = crate::check::DEFAULT_DEADLINE_MS)]
    pub vmm_timeout: u64,
    /// Fork in zero-copy mode (the template mapped privately).
    #[arg(long)]
    pub zero_copy: bool,
    /// Fork sessions at a time.
    #[arg(long, value_name = "K", default_value_t = 4)]
    pub parallel: usize,
    /// Print one JSON object per check.
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}
