//! End-to-end tests of `akin import`: folders of images and damaged IDX files.

mod support;

use std::path::Path;

use sqlx::Connection;
use support::Sandbox;

fn write_image(path: &Path, width: u32, height: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
    });
    image.save(path).expect("test image written");
}

async fn item_count(sandbox: &Sandbox, project: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(&sandbox.database_url)
        .await
        .expect("connects");
    sqlx::query_scalar(
        "SELECT count(*) FROM items JOIN projects p ON p.id = project_id WHERE p.name = $1",
    )
    .bind(project)
    .fetch_one(&mut db)
    .await
    .expect("counted")
}

#[tokio::test]
async fn a_folder_import_takes_every_decodable_image_and_names_the_rest() {
    let sandbox = Sandbox::new("import_dir");
    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(folder.path().join("nested/deeper")).expect("folders");
    write_image(&folder.path().join("a.png"), 40, 30);
    write_image(&folder.path().join("nested/b.jpg"), 100, 80);
    write_image(&folder.path().join("nested/deeper/c.png"), 16, 16);
    std::fs::write(
        folder.path().join("nested/broken.png"),
        b"not an image at all",
    )
    .expect("w");
    std::fs::write(folder.path().join("notes.txt"), b"ignored").expect("written");
    let path = folder.path().to_str().expect("utf-8 path");

    let first = sandbox.run(&["import", "dir", path, "--project", "photos"]);
    let again = sandbox.run_ok(&["import", "dir", path, "--project", "photos"]);

    assert!(first.status.success());
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stdout.contains("3 new items, 1 files skipped"), "{stdout}");
    assert!(
        stderr.contains("nested/broken.png"),
        "the skipped file is named: {stderr}"
    );
    assert!(
        again.contains("0 new items"),
        "a second import adds nothing: {again}"
    );
    assert_eq!(item_count(&sandbox, "photos").await, 3);
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_truncated_idx_file_is_refused_with_a_clear_error_and_imports_nothing() {
    let sandbox = Sandbox::new("import_idx");
    let dataset = tempfile::tempdir().expect("temp dir");
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(std::iter::repeat_n(7u8, 100));
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 10];
    labels.extend(0..10u8);
    std::fs::write(dataset.path().join("train-images-idx3-ubyte"), &images).expect("written");
    std::fs::write(dataset.path().join("train-labels-idx1-ubyte"), &labels).expect("written");
    let dir = dataset.path().to_str().expect("utf-8 path");

    let output = sandbox.run(&[
        "import",
        "fashion-mnist",
        "--project",
        "fm",
        "--dataset-dir",
        dir,
    ]);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("truncated"), "{stderr}");
    assert_eq!(item_count(&sandbox, "fm").await, 0);
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_labels_file_in_place_of_the_images_is_named_as_such() {
    let sandbox = Sandbox::new("import_swap");
    let dataset = tempfile::tempdir().expect("temp dir");
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3];
    labels.extend([1, 2, 3]);
    std::fs::write(dataset.path().join("train-images-idx3-ubyte"), &labels).expect("written");
    std::fs::write(dataset.path().join("train-labels-idx1-ubyte"), &labels).expect("written");
    let dir = dataset.path().to_str().expect("utf-8 path");

    let output = sandbox.run(&[
        "import",
        "fashion-mnist",
        "--project",
        "fm",
        "--dataset-dir",
        dir,
    ]);

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("labels file given where images expected"),
        "{stderr}"
    );
    sandbox.drop_database().await;
}
