//! Output-name templates as DIALS and XDS write image templates: one run of `#` in a name
//! stands for the frame number, zero-padded to the run's length (`img_####.img`, frame 7 →
//! `img_0007.img`).

use std::path::{Path, PathBuf};

/// Where the run of `#` lies in a name: byte range, or None for a literal name.
fn hash_run(name: &str) -> Result<Option<std::ops::Range<usize>>, String> {
    let Some(start) = name.find('#') else { return Ok(None) };
    let end = name[start..].find(|c| c != '#').map_or(name.len(), |n| start + n);
    if name[end..].contains('#') {
        return Err("has more than one run of '#' (one run stands for the frame number)".into());
    }
    Ok(Some(start..end))
}

/// Whether `path` is a template (has a run of `#`); an error for a name with two runs.
pub fn is_template(path: &Path) -> Result<bool, String> {
    Ok(hash_run(&path.to_string_lossy())?.is_some())
}

/// The name of frame `number`: the run of `#` replaced by the number, zero-padded to the run's
/// length; a literal name is returned as it is. A number with more digits than the run is
/// refused (it would not sort with the others, and readers would not find it).
pub fn expand(path: &Path, number: u64) -> Result<PathBuf, String> {
    let name = path.to_string_lossy();
    let Some(run) = hash_run(&name)? else { return Ok(path.to_path_buf()) };
    let digits = format!("{number:0width$}", width = run.len());
    if digits.len() > run.len() {
        return Err(format!("frame {number} needs {} digits, the template has {} '#'", digits.len(), run.len()));
    }
    Ok(PathBuf::from(format!("{}{digits}{}", &name[..run.start], &name[run.end..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: &str, n: u64) -> Result<String, String> {
        expand(Path::new(t), n).map(|p| p.display().to_string())
    }

    #[test]
    fn pads_to_the_run() {
        assert_eq!(ex("img_####.img", 7).unwrap(), "img_0007.img");
        assert_eq!(ex("img_#.img", 7).unwrap(), "img_7.img");
        assert_eq!(ex("dir/x_###", 123).unwrap(), "dir/x_123");
        assert_eq!(ex("plain.bin", 5).unwrap(), "plain.bin");
    }

    #[test]
    fn refuses_numbers_too_wide_and_two_runs() {
        assert!(ex("img_##.img", 100).unwrap_err().contains("3 digits"));
        assert!(ex("a#_#.img", 1).unwrap_err().contains("more than one run"));
        assert!(is_template(Path::new("a##b")).unwrap());
        assert!(!is_template(Path::new("ab")).unwrap());
    }
}
