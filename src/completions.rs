//! Shell completion scripts: clap_complete's, from the one clap definition, with one thing
//! added that it does not do: completing the items of a comma-separated list
//! (`--class write,r` → `write,read`). clap_complete offers a list option's values only for
//! the whole word, so after a comma bash offered nothing and zsh and fish the bare values.
//!
//! Each shell gets its own list completion, put in place of the values clap wrote for that
//! option: a small function for bash and fish, zsh's own `_values -s ,`. The options are found
//! in the clap definition (a `,` value delimiter and possible values), not named here.

use clap_complete::Shell;

use crate::cli::Cli;

/// An option with known values, perhaps a comma-separated list of them.
struct ValueOption {
    long: String,
    /// Its visible aliases (`--output-format` of `--format`), completed alike.
    aliases: Vec<String>,
    /// Its short name and visible short aliases (`-f`, `-o`).
    shorts: Vec<char>,
    value_name: String,
    /// Each value and its help.
    values: Vec<(String, String)>,
    /// Whether the value is a comma-separated list of them.
    list: bool,
}

impl ValueOption {
    /// The option's long names, its own first.
    fn longs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.long.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Whether a clap-written list of values is this option's: it starts with its first value.
    fn first_value(&self) -> &str {
        self.values.first().map_or("", |(v, _)| v.as_str())
    }

    /// Its names as the shell word: `--class`, `--output-format`, `-f`.
    fn flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = self.longs().map(|l| format!("--{l}")).collect();
        flags.extend(self.shorts.iter().map(|s| format!("-{s}")));
        flags
    }
}

/// The completion script for `shell`.
pub(crate) fn render(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "pverec", &mut out);
    let lists = list_options(&command);
    let script = String::from_utf8_lossy(&out).into_owned();
    let script = match shell {
        Shell::Bash => bash(script, &lists),
        Shell::Zsh => zsh(script, &lists),
        Shell::Fish => fish(script, &lists),
        _ => script,
    };
    script.into_bytes()
}

/// Every long option of every subcommand that takes known values, once (by name: an option
/// of that name has the same values in every subcommand).
fn list_options(command: &clap::Command) -> Vec<ValueOption> {
    let mut lists: Vec<ValueOption> = Vec::new();
    for sub in command.get_subcommands() {
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let values: Vec<(String, String)> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| {
                    let help = v.get_help().map(ToString::to_string).unwrap_or_default();
                    (v.get_name().to_string(), help)
                })
                .collect();
            // Once per name and values: `--format` has other values in `sessions`.
            if values.is_empty() || lists.iter().any(|l| l.long == long && l.values == values) {
                continue;
            }
            let value_name = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| long.to_uppercase(), ToString::to_string);
            lists.push(ValueOption {
                long: long.to_string(),
                aliases: arg
                    .get_visible_aliases()
                    .unwrap_or_default()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                shorts: arg
                    .get_short()
                    .into_iter()
                    .chain(arg.get_visible_short_aliases().unwrap_or_default())
                    .collect(),
                value_name,
                values,
                list: arg.get_value_delimiter() == Some(','),
            });
        }
    }
    lists
}

/// Bash: the option's `compgen -W` becomes `_pverec_list`, which keeps the items already
/// typed as the prefix of every candidate and offers only the values not yet in the list.
fn bash(mut script: String, lists: &[ValueOption]) -> String {
    for list in lists.iter().filter(|l| l.list) {
        let words: Vec<&str> = list.values.iter().map(|(v, _)| v.as_str()).collect();
        let words = words.join(" ");
        let clap_line = format!("COMPREPLY=($(compgen -W \"{words}\" -- \"${{cur}}\"))");
        for flag in list.flags() {
            let arm = format!(" {flag})\n");
            let mut rewritten = String::with_capacity(script.len());
            let mut rest = script.as_str();
            while let Some(at) = rest.find(&arm) {
                let (head, tail) = rest.split_at(at + arm.len());
                rewritten.push_str(head);
                rest = tail;
                let indent = rest.len() - rest.trim_start_matches(' ').len();
                if rest[indent..].starts_with(&clap_line) {
                    rewritten.push_str(&rest[..indent]);
                    rewritten.push_str(&format!("_pverec_list \"{words}\""));
                    rest = &rest[indent + clap_line.len()..];
                }
            }
            rewritten.push_str(rest);
            script = rewritten;
        }
    }
    const LIST: &str = r#"# Completes the last item of a comma-separated list (pverec: --class write,r -> write,read):
# the items already typed stay in front, and only values not yet in the list are offered.
_pverec_list() {
    local prefix="" word="${cur}" value
    local -a values=()
    if [[ "${word}" == *,* ]]; then
        prefix="${word%,*},"
        word="${word##*,}"
    fi
    for value in $1; do
        [[ ",${prefix}" == *",${value},"* ]] || values+=("${value}")
    done
    COMPREPLY=($(compgen -P "${prefix}" -W "${values[*]}" -- "${word}"))
}

"#;
    format!("{LIST}{script}")
}

/// zsh: a list option's values become `_values -s , NAME "value[help]" …`, zsh's own
/// completion of separated lists; every other option's `((value\:"help" …))` is written again
/// with its help quoted (clap_complete leaves a `"` in it as it is: `--format`'s `"# note"`
/// ended the word early and made "note" and the rest values of their own).
fn zsh(mut script: String, options: &[ValueOption]) -> String {
    // Inside the single-quoted `_arguments` spec, where `\:` stands for a colon.
    let spec_text = |s: &str| s.replace(':', "\\:").replace('\'', "'\\''");
    let double_quoted = |s: &str| {
        let s = s
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('`', "\\`");
        format!("\"{s}\"")
    };
    for option in options {
        let action = if option.list {
            let items: Vec<String> = option
                .values
                .iter()
                .map(|(value, help)| {
                    let help = help.replace('[', "(").replace(']', ")");
                    spec_text(&double_quoted(&format!("{value}[{help}]")))
                })
                .collect();
            format!(
                "_values -s , {} {}",
                option.value_name.to_lowercase(),
                items.join(" ")
            )
        } else {
            let items: Vec<String> = option
                .values
                .iter()
                .map(|(value, help)| {
                    format!("{}\\:{}", spec_text(value), spec_text(&double_quoted(help)))
                })
                .collect();
            format!("(({}))", items.join("\n"))
        };
        let mut specs: Vec<String> = option
            .longs()
            .flat_map(|l| [format!("'--{l}=["), format!("'*--{l}=[")])
            .collect();
        for short in &option.shorts {
            specs.push(format!("'-{short}+["));
            specs.push(format!("'*-{short}+["));
        }
        for spec in specs {
            let mut from = 0;
            // Only the specs with this option's values (another subcommand's option of the
            // same name may have others).
            let clap_start = format!("(({}\\:", spec_text(option.first_value()));
            while let Some(at) = script[from..].find(&spec).map(|i| i + from) {
                let Some(start) = script[at..].find(":((").map(|i| i + at + 1) else {
                    break;
                };
                let Some(end) = script[start..].find("))'").map(|i| i + start + 2) else {
                    break;
                };
                if !script[start..].starts_with(&clap_start) {
                    from = end;
                    continue;
                }
                script.replace_range(start..end, &action);
                from = start + action.len();
            }
        }
    }
    script
}

/// fish: every option's `-a "values"` becomes a function that prints the values with their
/// help, after the items already typed for a list. (clap_complete leaves a `"` of a value's
/// help unescaped in its `-a "…"`, which breaks the whole file: `"# note"` in `--format`'s.)
fn fish(script: String, lists: &[ValueOption]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut functions = String::new();
    for (i, option) in lists.iter().enumerate() {
        let function = fish_function(lists, i);
        let pairs: Vec<String> = option
            .values
            .iter()
            .map(|(value, help)| format!("$prefix{} {}", quote(value), quote(help)))
            .collect();
        let (comment, prefix) = if option.list {
            (
                format!(
                    "# The values of --{long}, a comma-separated list: after {first}, each value \
                     is offered as {first},VALUE.\n",
                    long = option.long,
                    first = option.values[0].0,
                ),
                "set -l prefix (string match -r -- '^.*,' (commandline -ct)); or set prefix ''",
            )
        } else {
            (
                format!("# The values of --{}.\n", option.long),
                "set -l prefix ''",
            )
        };
        functions.push_str(&format!(
            "{comment}function {function}\n    \
             {prefix}\n    \
             printf '%s\\t%s\\n' {pairs}\n\
             end\n\n",
            pairs = pairs.join(" "),
        ));
    }
    // One `complete` command per chunk; clap writes `-a "…"` last, so it runs to the chunk's end.
    let mut out = functions;
    let mut chunks: Vec<&str> = Vec::new();
    let mut start = 0;
    for (at, _) in script.match_indices("\ncomplete ") {
        chunks.push(&script[start..=at]);
        start = at + 1;
    }
    chunks.push(&script[start..]);
    for chunk in chunks {
        let values_at = chunk.find(" -a \"");
        let option = lists.iter().position(|o| {
            o.longs().any(|l| chunk.contains(&format!(" -l {l} ")))
                && values_at.is_some_and(|at| chunk[at + 5..].starts_with(o.first_value()))
        });
        match (option, values_at) {
            (Some(i), Some(at)) if chunk.starts_with("complete ") => {
                out.push_str(&chunk[..at]);
                out.push_str(&format!(" -a \"({})\"\n", fish_function(lists, i)));
            }
            _ => out.push_str(chunk),
        }
    }
    out
}

/// The fish function of the `i`th option: `__fish_pverec_values_format`, and for a later option
/// of the same name with other values `__fish_pverec_values_format_2`.
fn fish_function(lists: &[ValueOption], i: usize) -> String {
    let long = &lists[i].long;
    let earlier = lists[..i].iter().filter(|o| &o.long == long).count();
    let base = format!("__fish_pverec_values_{}", long.replace('-', "_"));
    if earlier == 0 {
        base
    } else {
        format!("{base}_{}", earlier + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_of_one_name_keeps_each_subcommands_values() {
        // convert's --format is pvesh, json…; sessions' is table, json, csv.
        let zsh = String::from_utf8(render(Shell::Zsh)).unwrap();
        assert!(zsh.contains(":FORMAT:((pvesh\\:"), "convert's");
        assert!(zsh.contains(":FORMAT:((table\\:"), "sessions'");
        let fish = String::from_utf8(render(Shell::Fish)).unwrap();
        let sessions = fish
            .lines()
            .find(|l| l.contains("using_subcommand sessions") && l.contains("-l format"))
            .unwrap();
        assert!(
            sessions.ends_with("-a \"(__fish_pverec_values_format_2)\""),
            "{sessions}"
        );
        assert!(fish.contains("function __fish_pverec_values_format_2\n"));
        let function = fish
            .split("function __fish_pverec_values_format_2\n")
            .nth(1)
            .unwrap();
        assert!(function.split("\nend").next().unwrap().contains("'table'"));
    }

    #[test]
    fn class_is_a_list_option() {
        let lists = list_options(&Cli::command());
        let class = lists.iter().find(|l| l.long == "class").unwrap();
        assert_eq!(class.value_name, "LIST");
        assert!(class.values.iter().any(|(v, _)| v == "write"));
    }

    #[test]
    fn every_list_option_is_rewritten() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(render(shell)).unwrap();
            let marker = match shell {
                Shell::Bash => "_pverec_list \"write read",
                Shell::Zsh => "_values -s , list \"write[",
                _ => "-a \"(__fish_pverec_values_class)\"",
            };
            // convert and follow both have --class.
            assert_eq!(script.matches(marker).count(), 2, "{shell}:\n{script}");
        }
        for shell in <Shell as clap::ValueEnum>::value_variants() {
            assert!(!render(*shell).is_empty());
        }
    }

    /// An alias (`-o/--output-format` of `--format`, issue 10) completes like its option.
    #[test]
    fn aliases_complete_alike() {
        use clap::builder::PossibleValue;
        let values = [
            PossibleValue::new("pvesh").help("with a \"# note\""),
            PossibleValue::new("json").help("JSON"),
        ];
        let mut command = clap::Command::new("pverec").subcommand(
            clap::Command::new("convert")
                .arg(
                    clap::Arg::new("format")
                        .long("format")
                        .short('f')
                        .visible_short_alias('o')
                        .visible_alias("output-format")
                        .value_parser(clap::builder::PossibleValuesParser::new(values.clone())),
                )
                .arg(
                    clap::Arg::new("class")
                        .long("class")
                        .visible_alias("classes")
                        .value_delimiter(',')
                        .action(clap::ArgAction::Append)
                        .value_parser(clap::builder::PossibleValuesParser::new(values)),
                ),
        );
        let options = list_options(&command);
        let generate = |shell, command: &mut clap::Command| {
            let mut out = Vec::new();
            clap_complete::generate(shell, command, "pverec", &mut out);
            String::from_utf8(out).unwrap()
        };
        let zsh = zsh(generate(Shell::Zsh, &mut command), &options);
        // -f, -o, --format, --output-format, and the two names of the list.
        assert_eq!(zsh.matches("\\\"# note\\\"").count(), 6, "{zsh}");
        assert!(!zsh.contains("a \"# note"), "{zsh}");
        assert_eq!(zsh.matches("_values -s ,").count(), 2, "{zsh}");
        let bash = bash(generate(Shell::Bash, &mut command), &options);
        assert_eq!(
            bash.matches("_pverec_list \"pvesh json\"").count(),
            2,
            "{bash}"
        );
        let fish = fish(generate(Shell::Fish, &mut command), &options);
        assert!(!fish.contains("-a \"pvesh"), "{fish}");
        assert!(
            fish.contains("-a \"(__fish_pverec_values_format)\""),
            "{fish}"
        );
        assert!(
            fish.contains("-a \"(__fish_pverec_values_class)\""),
            "{fish}"
        );
    }
}
