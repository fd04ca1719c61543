//! Input (a): a products CSV in the reference project's columns plus an image URL template
//! for 360° spins, e.g. `https://img.example/{slug}/Images/{slug}/Lv2/img{index:02}.jpg`.

use std::collections::HashMap;
use std::path::Path;

use sneaker_catalog::Product;

use crate::error::{Result, ScrapeError};
use crate::journal::ImageJob;
use crate::sanitize::{label_from, url_slug};

/// One product row with the images its spin should have.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvProduct {
    /// Identity for label ownership and resume: the row's url, else its name.
    pub key: String,
    /// Sanitised label wanted (the CSV's label column, else the slug of the name).
    pub wanted_label: String,
    pub product: Product,
    pub images: Vec<ImageJob>,
}

/// Column names accepted for each field, compared after lower-casing and turning spaces
/// and dashes into underscores ("Deadstock sold" → `deadstock_sold`).
const COLUMNS: [(&str, &[&str]); 14] = [
    ("name", &["name", "product", "product_name", "title", "model"]),
    ("brand", &["brand"]),
    ("category", &["categories", "category"]),
    ("colorway", &["colorway", "colourway", "color", "colour"]),
    ("pairs_sold", &["deadstock_sold", "pairs_sold", "sold"]),
    ("gender", &["gender"]),
    ("style_id", &["style_id", "styleid", "sku", "style"]),
    ("thumbnail_url", &["thumbnail_url", "thumbnail"]),
    ("url", &["url", "product_url"]),
    ("label", &["label"]),
    ("slug", &["slug", "url_key"]),
    ("release_date", &["release_date", "releasedate"]),
    ("price", &["price", "retail_price"]),
    ("currency", &["currency"]),
];

/// Reads `csv_path` and expands `template` into `views` image URLs per product.
pub fn read_products(csv_path: &Path, template: &str, views: u32, max_images: usize) -> Result<Vec<CsvProduct>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .map_err(|e| ScrapeError::Config(format!("{}: {e}", csv_path.display())))?;
    let headers = reader.headers().map_err(|e| ScrapeError::Config(format!("{}: {e}", csv_path.display())))?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let norm = h.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        if let Some((field, _)) = COLUMNS.iter().find(|(_, names)| names.contains(&norm.as_str())) {
            index.entry(field).or_insert(i);
        }
    }
    if !index.contains_key("name") && !index.contains_key("label") && !index.contains_key("slug") {
        return Err(ScrapeError::Config(format!("{}: needs a name, label or slug column", csv_path.display())));
    }
    let source = csv_path.display().to_string();
    let mut out = Vec::new();
    for (row_no, row) in reader.records().enumerate() {
        let row = row.map_err(|e| ScrapeError::Config(format!("{source}: {e}")))?;
        let get = |field: &str| -> Option<String> {
            let v = row.get(*index.get(field)?)?.trim();
            (!v.is_empty()).then(|| v.to_owned())
        };
        let name = get("name").or_else(|| get("label")).or_else(|| get("slug"));
        let Some(name) = name else {
            tracing::warn!(csv = %source, row = row_no + 2, "row without a name, label or slug; skipped");
            continue;
        };
        let wanted_label = label_from(&get("label").unwrap_or_else(|| name.clone()));
        let slug = get("slug").unwrap_or_else(|| url_slug(&name));
        let pairs_sold =
            get("pairs_sold").and_then(|s| s.replace(',', "").parse::<f64>().ok()).map(|n| n.max(0.0) as u64);
        let product = Product {
            label: String::new(),
            name: Some(name.clone()),
            brand: get("brand"),
            category: get("category"),
            colorway: get("colorway"),
            pairs_sold,
            gender: get("gender"),
            style_id: get("style_id"),
            release_date: get("release_date"),
            price: get("price").and_then(|s| s.trim_start_matches('$').replace(',', "").parse().ok()),
            currency: get("currency"),
            thumbnail_url: get("thumbnail_url"),
            url: get("url"),
            source_url: Some(format!("{source}#row={}", row_no + 2)),
            fetched_at: Some(crate::now()),
        };
        let images = (1..=views)
            .take(max_images)
            .map(|i| ImageJob {
                url: expand(template, &slug, &wanted_label, i, views),
                view: Some(i),
                angle: Some(((i - 1) as f32) * 360.0 / views as f32),
            })
            .collect();
        let key = get("url").unwrap_or_else(|| format!("name:{name}"));
        out.push(CsvProduct { key, wanted_label, product, images });
    }
    Ok(out)
}

/// Fills `{slug}`, `{label}`, `{n}`, `{index}` and zero-padded `{index:0W}` in `template`.
pub fn expand(template: &str, slug: &str, label: &str, index: u32, n: u32) -> String {
    let mut s = template.replace("{slug}", slug).replace("{label}", label).replace("{n}", &n.to_string());
    s = s.replace("{index}", &index.to_string());
    while let Some(start) = s.find("{index:0") {
        let rest = &s[start + "{index:0".len()..];
        let Some(end) = rest.find('}') else { break };
        let width: usize = rest[..end].parse().unwrap_or(2);
        let padded = format!("{index:0width$}");
        s.replace_range(start..start + "{index:0".len() + end + 1, &padded);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_the_stockx_template() {
        let t = "https://img.test/{slug}/Images/{slug}/Lv2/img{index:02}.jpg?n={n}";
        assert_eq!(
            expand(t, "Nike-Air-Max-90", "x", 7, 36),
            "https://img.test/Nike-Air-Max-90/Images/Nike-Air-Max-90/Lv2/img07.jpg?n=36"
        );
        assert_eq!(expand("/{label}/{index:03}-{index}", "s", "air", 5, 36), "/air/005-5");
    }

    #[test]
    fn reads_reference_columns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.csv");
        std::fs::write(
            &path,
            "Name,Brand,Categories,Colorway,Deadstock sold,Gender,Style id,Thumbnail_url,url,index,label\n\
             Nike Air Max 90 Infrared,Nike,sneakers,White/Infrared,\"5,123\",men,CT1685-100,https://t/1.jpg,https://s/p/am90,0,\n\
             Jordan 1 ../../Chicago,Jordan,sneakers,,,,555088-101,,https://s/p/j1,1,\n",
        )
        .expect("write");
        let rows = read_products(&path, "https://img/{slug}/img{index:02}.jpg", 36, 4).expect("read");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].wanted_label, "nike_air_max_90_infrared");
        assert_eq!(rows[0].product.pairs_sold, Some(5123));
        assert_eq!(rows[0].product.style_id.as_deref(), Some("CT1685-100"));
        assert_eq!(rows[0].images.len(), 4);
        assert_eq!(rows[0].images[3].url, "https://img/Nike-Air-Max-90-Infrared/img04.jpg");
        // view 4 of 36 is 30° round: (4 - 1) * 360 / 36.
        assert_eq!(rows[0].images[3].angle, Some(30.0));
        assert_eq!(rows[1].wanted_label, "jordan_1_chicago");
        assert_eq!(rows[1].key, "https://s/p/j1");
    }
}
