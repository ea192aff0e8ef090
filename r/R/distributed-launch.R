# Starting the processes of a distributed run on this machine.

#' Run an R script on several local processes
#'
#' Starts `n` copies of an R script with `Rscript`, each set up to join one
#' group over MLX's ring backend on 127.0.0.1, waits for all of them and
#' streams their output. It writes the host file (one free loopback port per
#' rank, chosen by the kernel) and sets the environment variables that
#' `mlx.launch` sets: `MLX_RANK` (0 to `n - 1`) and `MLX_HOSTFILE`. In the
#' script, [mlx_distributed_init()] joins the group.
#'
#' A run never hangs. When a rank exits with a non-zero status, or is
#' killed, the other ranks are stopped and the function raises an error of
#' class `rmlx_error_distributed` naming the rank, its status and the end of
#' its error output. A rank that is not in the group within `join_timeout`
#' seconds makes the others fail in [mlx_distributed_init()]. A run that
#' takes longer than `timeout` seconds is stopped with an error as well.
#'
#' For several machines, use MLX Python's `mlx.launch` with a host file; the
#' same script runs unchanged (see `docs/distributed.md` in the source).
#'
#' @param script Path of the R script.
#' @param n Number of processes. Default: 2.
#' @param args Command-line arguments passed to every process, read there
#'   with [commandArgs()].
#' @param timeout Seconds after which the whole run is stopped. Default:
#'   3600.
#' @param join_timeout Seconds that each process waits in
#'   [mlx_distributed_init()] for the others to join. Default: 60.
#' @param env A named character vector of further environment variables
#'   for the processes.
#' @param echo If `TRUE` (the default), copy the processes' output to the
#'   console as it arrives: standard output as it is, standard error with a
#'   `[rank r]` prefix.
#' @return A list with one element per rank, invisibly: `status` (the exit
#'   status), `stdout` and `stderr` (character vectors of lines).
#' @examples
#' \dontrun{
#' script <- tempfile(fileext = ".R")
#' writeLines(c(
#'   "library(Rmlx)",
#'   "group <- mlx_distributed_init()",
#'   "total <- mlx_all_sum(mlx_group_rank(group) + 1, group)",
#'   "if (mlx_group_rank(group) == 0) print(as.numeric(total))"
#' ), script)
#' mlx_launch_local(script, n = 3)   # prints 6
#' }
#' @export
mlx_launch_local <- function(script, n = 2, args = character(),
                             timeout = 3600, join_timeout = 60,
                             env = character(), echo = TRUE) {
  rlang::check_installed("processx", "to start the processes of a run.")
  check_string(script)
  if (!file.exists(script)) {
    abort_invalid("{.arg script} must be the path of an existing file.",
                  "{.file {script}} does not exist.", rlang::current_env())
  }
  check_count(n, min = 1)
  if (!is.character(args)) {
    received <- describe_value(args)
    abort_invalid("{.arg args} must be a character vector.",
                  "You supplied {received}.", rlang::current_env())
  }
  check_number(timeout)
  check_number(join_timeout)
  if (length(env) && (!is.character(env) || is.null(names(env)))) {
    received <- describe_value(env)
    abort_invalid("{.arg env} must be a named character vector.",
                  "You supplied {received}.", rlang::current_env())
  }
  check_bool(echo)

  hostfile <- tempfile("rmlx-hosts-", fileext = ".json")
  on.exit(unlink(hostfile), add = TRUE)
  if (n > 1) {
    ports <- free_loopback_ports_(as.integer(n))
    writeLines(sprintf("[%s]", paste0('["127.0.0.1:', ports, '"]',
                                      collapse = ", ")), hostfile)
  }

  processes <- lapply(seq_len(n) - 1L, function(rank) {
    start_rank(script, rank, n, args, hostfile, join_timeout, env)
  })
  on.exit(stop_ranks(processes), add = TRUE)
  wait_for_ranks(processes, timeout, echo)
}

start_rank <- function(script, rank, n, args, hostfile, join_timeout, env) {
  rank_env <- c(
    "current",
    R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep),
    RMLX_DISTRIBUTED_TIMEOUT = format(join_timeout),
    env
  )
  if (n > 1) {
    rank_env <- c(rank_env, MLX_RANK = rank, MLX_HOSTFILE = hostfile)
  }
  processx::process$new(
    file.path(R.home("bin"), "Rscript"), c(script, args),
    env = rank_env, stdout = "|", stderr = "|",
    cleanup = TRUE, cleanup_tree = TRUE, supervise = TRUE
  )
}

stop_ranks <- function(processes) {
  for (process in processes) {
    if (process$is_alive()) {
      process$kill_tree()
    }
  }
}

# Polls the processes until all have exited, copying their output. Stops
# every rank and raises an error when one fails or the run times out.
wait_for_ranks <- function(processes, timeout, echo, call = rlang::caller_env()) {
  n <- length(processes)
  output <- lapply(seq_len(n), function(i) list(stdout = character(), stderr = character()))
  status <- rep(NA_integer_, n)
  deadline <- Sys.time() + timeout

  collect <- function(i) {
    process <- processes[[i]]
    out <- if (process$has_output_connection()) process$read_output_lines() else character()
    err <- if (process$has_error_connection()) process$read_error_lines() else character()
    if (echo && length(out)) {
      cat(out, sep = "\n")
    }
    if (echo && length(err)) {
      cat(paste0("[rank ", i - 1, "] ", err), sep = "\n", file = stderr())
    }
    output[[i]]$stdout <<- c(output[[i]]$stdout, out)
    output[[i]]$stderr <<- c(output[[i]]$stderr, err)
  }

  repeat {
    open <- Filter(function(p) p$is_incomplete_output() || p$is_incomplete_error(), processes)
    if (length(open)) {
      processx::poll(open, 200)
    } else {
      Sys.sleep(0.05)
    }
    for (i in seq_len(n)) {
      collect(i)
    }

    exited <- which(is.na(status) & !vapply(processes, function(p) p$is_alive(), logical(1)))
    for (i in exited) {
      processes[[i]]$wait()
      status[i] <- processes[[i]]$get_exit_status()
      collect_rest(processes[[i]], function() collect(i))
    }
    failed <- exited[status[exited] != 0]
    if (length(failed)) {
      stop_ranks(processes)
      abort_rank_failure(failed, status, output, n, call)
    }
    if (!anyNA(status)) {
      break
    }
    if (Sys.time() > deadline) {
      stop_ranks(processes)
      running <- paste(which(is.na(status)) - 1L, collapse = ", ")
      cli::cli_abort(
        c("The distributed run timed out after {timeout} s.",
          x = "Ranks still running, now stopped: {running}."),
        call = call, class = "rmlx_error_distributed"
      )
    }
  }

  invisible(lapply(seq_len(n), function(i) {
    list(status = status[i], stdout = output[[i]]$stdout, stderr = output[[i]]$stderr)
  }))
}

# Reads what a process that has exited left in its pipes.
collect_rest <- function(process, collect) {
  while (process$is_incomplete_output() || process$is_incomplete_error()) {
    processx::poll(list(process), 100)
    collect()
  }
}

# The lines of an R error in a process's error output: from the last line
# that starts with "Error" up to its backtrace, else the last non-blank
# lines.
error_summary <- function(lines, max_lines = 8) {
  lines <- lines[nzchar(trimws(lines))]
  start <- utils::tail(grep("^Error", lines), 1)
  if (length(start)) {
    lines <- lines[start:length(lines)]
    backtrace <- grep("^Backtrace:", lines)
    if (length(backtrace)) {
      lines <- lines[seq_len(backtrace[[1]] - 1)]
    }
    return(utils::head(lines, max_lines))
  }
  utils::tail(lines, max_lines)
}

abort_rank_failure <- function(failed, status, output, n, call) {
  first <- failed[[1]]
  describe_status <- function(i) {
    if (status[i] < 0) {
      sprintf("was killed by signal %d", -status[i])
    } else {
      sprintf("exited with status %d", status[i])
    }
  }
  tail_lines <- error_summary(output[[first]]$stderr)
  bullets <- c(
    sprintf("Rank %d of %d %s.", first - 1L, n, describe_status(first)),
    if (length(failed) > 1) {
      c(i = paste0(
        "Also failed: ",
        paste(sprintf("rank %d %s", failed[-1] - 1L, vapply(failed[-1], describe_status, "")),
              collapse = "; "),
        "."
      ))
    },
    i = "The other ranks were stopped.",
    if (length(tail_lines)) {
      c(i = sprintf("Rank %d's error output ends with:", first - 1L),
        stats::setNames(tail_lines, rep(" ", length(tail_lines))))
    }
  )
  # The processes' output is shown as it is, not as cli markup.
  bullets <- stats::setNames(gsub("([{}])", "\\1\\1", bullets), names(bullets))
  cli::cli_abort(bullets, call = call, class = "rmlx_error_distributed",
                 .envir = emptyenv())
}
