//! The AWS CLI's shared files, read for one profile: the credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`; sections `[NAME]`) and the
//! config file (`AWS_CONFIG_FILE`, else `~/.aws/config`; sections `[profile NAME]`, and
//! `[default]`). Values are kept apart per file because the CLI's order of sources puts
//! keys in the credentials file before a `credential_process` and that before keys in the
//! config file.

/// One of the two files: where it is, and the profile's `key = value` lines in it
/// (`None`: the file could not be read, usually because it does not exist).
#[derive(Debug)]
pub struct ProfileFile {
    /// The file's path, for messages.
    pub path: String,
    keys: Option<Vec<(String, String)>>,
}

/// A profile as the two files give it.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// Its section of the credentials file.
    pub credentials: ProfileFile,
    /// Its section of the config file.
    pub config: ProfileFile,
}

impl Profile {
    /// Reads profile `name` from both files, their paths found through `lookup` (the
    /// environment) as the AWS CLI finds them.
    pub fn read(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Profile {
        let home = |file: &str| match lookup("HOME") {
            Some(home) => format!("{home}/.aws/{file}"),
            None => format!("~/.aws/{file} (HOME is not set)"),
        };
        let credentials =
            lookup("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| home("credentials"));
        let config = lookup("AWS_CONFIG_FILE").unwrap_or_else(|| home("config"));
        let config_section = match name {
            "default" => "default".to_owned(),
            _ => format!("profile {name}"),
        };
        Profile {
            name: name.to_owned(),
            credentials: ProfileFile::read(credentials, name),
            config: ProfileFile::read(config, &config_section),
        }
    }

    /// Whether either file has the profile's section.
    pub fn exists(&self) -> bool {
        self.credentials
            .keys
            .as_ref()
            .is_some_and(|k| !k.is_empty())
            || self.config.keys.as_ref().is_some_and(|k| !k.is_empty())
    }

    /// The first of `keys` the profile sets in either file, with the file's path.
    pub fn first_of<'k>(&self, keys: &[&'k str]) -> Option<(&'k str, &str)> {
        [&self.credentials, &self.config]
            .into_iter()
            .find_map(|file| {
                keys.iter()
                    .find_map(|k| file.get(k).map(|_| (*k, file.path.as_str())))
            })
    }

    /// Where the files are, and which could not be read, for a message.
    pub fn looked_in(&self) -> String {
        let said = |file: &ProfileFile| match file.keys {
            Some(_) => file.path.clone(),
            None => format!("{} (not readable)", file.path),
        };
        format!("{} and {}", said(&self.credentials), said(&self.config))
    }
}

impl ProfileFile {
    fn read(path: String, section: &str) -> ProfileFile {
        let keys = std::fs::read_to_string(&path)
            .ok()
            .map(|text| section_keys(&text, section));
        ProfileFile { path, keys }
    }

    /// The value of `key` in the profile's section (keys are case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        let keys = self.keys.as_ref()?;
        keys.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The `key = value` lines of `[section]` in an INI-style AWS file, keys lowercased.
/// Comments (`#`, `;`) and blank lines are skipped; a section named twice is read whole.
fn section_keys(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.split_whitespace().eq(section.split_whitespace());
        } else if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            keys.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_s_keys_are_read_from_it_only() {
        let text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n\
                    # a comment\n[demo]\nAWS_ACCESS_KEY_ID=A2\naws_secret_access_key = S2\n\
                    ; another = comment\naws_session_token = T2\n";
        let keys = section_keys(text, "demo");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], ("aws_access_key_id".to_owned(), "A2".to_owned()));
        assert!(section_keys(text, "other").is_empty());
    }

    #[test]
    fn config_sections_are_named_profile_name_with_any_spacing() {
        let text = "[default]\nregion = eu-west-1\n[profile  ci ]\ncredential_process = /bin/x\n";
        assert_eq!(section_keys(text, "profile ci").len(), 1);
        assert_eq!(section_keys(text, "default").len(), 1);
        assert!(section_keys(text, "ci").is_empty());
    }
}
