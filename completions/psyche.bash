# Bash completion for psyche, elpis, mnemosyne and psyche-mkmodel: flags,
# subcommands and file arguments. Installed once per program name (the same
# file) under share/bash-completion/completions/.

_psyche_files() { # $1: a glob pattern for files, or "dir" for folders
    if [ "$1" = dir ]; then
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -X "!$1" -- "$cur"; compgen -d -- "$cur")
    fi
}

_psyche() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --config|--api-key-file|--log-file) _psyche_files '*'; return ;;
        --model) _psyche_files '*.gguf'; return ;;
        --workspace) _psyche_files dir; return ;;
        --log-level) mapfile -t COMPREPLY < <(compgen -W "debug info notice warn error off" -- "$cur"); return ;;
        -p|--print|--host|--port|--connect) return ;;
    esac
    local words="--config --model --workspace --no-memory --no-idle -p --print --repl --events --log-level
                 --print-config --connect --version --help"
    if [[ " ${COMP_WORDS[*]} " == *" --connect "* ]]; then
        words="--api-key-file --workspace --no-sandbox -p --print --repl --help"
    elif [ "${COMP_WORDS[1]:-}" = serve ] && [ "$COMP_CWORD" -gt 1 ]; then
        words="--host --port --api-key-file --config --model --log-level --log-file --help"
    elif [ "$COMP_CWORD" -eq 1 ]; then
        words="serve $words"
    fi
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

_elpis() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --model) _psyche_files '*.gguf'; return ;;
        --config|--log-file) _psyche_files '*'; return ;;
        --gpu-layers) mapfile -t COMPREPLY < <(compgen -W "auto 0 -1" -- "$cur"); return ;;
        --log-level) mapfile -t COMPREPLY < <(compgen -W "debug info notice warn error off" -- "$cur"); return ;;
        --ctx|--threads) return ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "--model --config --ctx --threads --gpu-layers --log-level --log-file
                                         --doctor --print-config --version --help" -- "$cur")
}

_mnemosyne() {
    local cur prev i cmd=""
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmds="stats export import edit search restore delete consolidate"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case " $cmds " in *" ${COMP_WORDS[i]} "*) cmd=${COMP_WORDS[i]}; break ;; esac
    done
    case $prev in
        --db) _psyche_files '*.db'; return ;;
        --embedding-model) _psyche_files '*.gguf'; return ;;
        --config|--log-file) _psyche_files '*'; return ;;
        --log-level) mapfile -t COMPREPLY < <(compgen -W "debug info notice warn error off" -- "$cur"); return ;;
        --status) mapfile -t COMPREPLY < <(compgen -W "active all short_term long_term archived" -- "$cur"); return ;;
        --type|--content|--summary|--tags|-n) return ;;
        import) _psyche_files '*.jsonl'; return ;;
    esac
    local opts="--config --db --embedding-model --log-level --log-file"
    case $cmd in
        "") opts="$cmds $opts --print-config --version --help" ;;
        import) opts="--keep-trust --replace $opts" ;;
        edit) opts="--content --summary --tags --type $opts" ;;
        search) opts="-n --status --json $opts" ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
}

_psyche_mkmodel() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --vocab-dir|--out-dir) _psyche_files dir; return ;;
        --seed) return ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "--vocab-dir --out-dir --seed --help" -- "$cur")
}

complete -F _psyche psyche
complete -F _elpis elpis
complete -F _mnemosyne mnemosyne
complete -F _psyche_mkmodel psyche-mkmodel
