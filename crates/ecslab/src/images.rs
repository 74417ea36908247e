//! `ecslab images import`: put a disk image file into a local bucket, call ImportImage, and wait
//! for the image to become Available, with progress on stderr. Only the ImageId goes to stdout,
//! so scripts can write `IMAGE=$(ecslab images import --name demo guest.qcow2)`.

use clap::Subcommand;
use ecslab::client::{Client, Connection};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum ImagesCommand {
    /// Import a qcow2, raw or VHD disk image file as a new image.
    Import {
        /// Name of the new image.
        #[arg(long)]
        name: String,
        /// The disk image file.
        file: PathBuf,
        /// The server's data directory (the local buckets live under it).
        #[arg(long, env = "ECSLAB_DATA_DIR", default_value = "./var")]
        data_dir: PathBuf,
        /// Bucket to put the file into. A bucket belongs to the first account (other than the admin) that uses it:
        /// a tenant names one of its own.
        #[arg(long, default_value = "ecslab-images")]
        bucket: String,
        /// Format of the file: qcow2, raw or vhd; detected from the file when omitted.
        #[arg(long)]
        format: Option<String>,
        /// Return as soon as the import has started instead of waiting for Available.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub async fn run(command: ImagesCommand) -> Result<(), String> {
    match command {
        ImagesCommand::Import { name, file, data_dir, bucket, format, no_wait, connection } => {
            let format = match format {
                Some(f) => f,
                None => detect_format(&file)?,
            };
            let object = format!("{name}.{format}");
            let target = data_dir.join("buckets").join(&bucket).join(&object);
            copy_with_progress(&file, &target)?;
            let client = Client::new(connection);
            let reply = client
                .ecs(
                    "ImportImage",
                    &[
                        ("ImageName", name.clone()),
                        ("DiskDeviceMapping.1.OSSBucket", bucket),
                        ("DiskDeviceMapping.1.OSSObject", object),
                        ("DiskDeviceMapping.1.Format", format),
                    ],
                )
                .await?;
            let image_id = reply["ImageId"].as_str().ok_or("ImportImage returned no ImageId")?.to_string();
            if !no_wait {
                wait_available(&client, &image_id).await?;
            }
            println!("{image_id}");
            Ok(())
        }
    }
}

fn detect_format(file: &Path) -> Result<String, String> {
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(file).map_err(|e| format!("opening {}: {e}", file.display()))?;
    let n = f.read(&mut magic).map_err(|e| format!("reading {}: {e}", file.display()))?;
    Ok(if n == 4 && &magic == b"QFI\xfb" { "qcow2" } else { "raw" }.to_string())
}

fn copy_with_progress(source: &Path, target: &Path) -> Result<(), String> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut input = std::fs::File::open(source).map_err(|e| format!("opening {}: {e}", source.display()))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let partial = target.with_extension("partial");
    let mut output =
        std::fs::File::create(&partial).map_err(|e| format!("creating {}: {e}", partial.display()))?;
    let mut buf = vec![0u8; 4 << 20];
    let (mut done, mut last_report) = (0u64, Instant::now());
    loop {
        let n = input.read(&mut buf).map_err(|e| format!("reading {}: {e}", source.display()))?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n]).map_err(|e| format!("writing {}: {e}", partial.display()))?;
        done += n as u64;
        if total > 64 << 20 && last_report.elapsed() > Duration::from_millis(500) {
            eprint!("\rcopying into the bucket: {:>3}% ({} MiB)", done * 100 / total.max(1), done >> 20);
            last_report = Instant::now();
        }
    }
    output.sync_all().map_err(|e| format!("syncing {}: {e}", partial.display()))?;
    std::fs::rename(&partial, target).map_err(|e| format!("renaming into {}: {e}", target.display()))?;
    if total > 64 << 20 {
        eprintln!("\rcopying into the bucket: 100% ({} MiB)", done >> 20);
    }
    Ok(())
}

async fn wait_available(client: &Client, image_id: &str) -> Result<(), String> {
    let statuses = "Creating,Waiting,Available,CreateFailed".to_string();
    let mut last_progress = String::new();
    loop {
        let reply = client
            .ecs("DescribeImages", &[("ImageId", image_id.to_string()), ("Status", statuses.clone())])
            .await?;
        let image = &reply["Images"]["Image"][0];
        let status = image["Status"].as_str().unwrap_or("");
        let progress = image["Progress"].as_str().unwrap_or("").to_string();
        match status {
            "Available" => {
                eprintln!("image {image_id} is Available");
                return Ok(());
            }
            "CreateFailed" | "" => return Err(format!("importing {image_id} failed (status {status:?})")),
            _ => {
                if progress != last_progress {
                    eprintln!("importing {image_id}: {progress}");
                    last_progress = progress;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}
