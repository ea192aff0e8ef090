# Writes man/*.Rd from the roxygen comments in R/*.R, because roxygen2 is not
# installed here. Run from the package root: Rscript tools/make-rd.R
#
# It understands the subset of roxygen that this package uses: a title line,
# description paragraphs, @param, @return, @section, @examples, @name,
# @rdname, @keywords and @export, with markdown `code` and [links()].
# A block documents the function assigned on the line after it; a block
# ending in NULL documents a topic named by @name that other blocks join
# with @rdname.

`%||%` <- function(x, y) if (is.null(x)) y else x

r_files <- sort(list.files("R", pattern = "[.]R$", full.names = TRUE))
r_files <- r_files[basename(r_files) != "cpp11.R"]

# Escapes what Rd would read as markup. A backslash before a letter starts
# an Rd macro such as \eqn{}, and one before _, { or } escapes it inside
# LaTeX; both are kept as they are.
escape_rd <- function(text) {
  text <- gsub("\\\\(?![A-Za-z_{}])", "\\\\\\\\", text, perl = TRUE)
  text <- gsub("%", "\\\\%", text)
  text
}

markdown_to_rd <- function(text) {
  text <- escape_rd(text)
  # [fn()] links.
  text <- gsub("\\[([A-Za-z0-9_.]+)\\(\\)\\]", "\\\\code{\\\\link[=\\1]{\\1()}}", text)
  # `code`
  gsub("`([^`]+)`", "\\\\code{\\1}", text)
}

parse_blocks <- function(path) {
  lines <- readLines(path)
  blocks <- list()
  i <- 1
  while (i <= length(lines)) {
    if (!startsWith(lines[[i]], "#'")) {
      i <- i + 1
      next
    }
    start <- i
    while (i <= length(lines) && startsWith(lines[[i]], "#'")) i <- i + 1
    text <- sub("^#' ?", "", lines[start:(i - 1)])
    target <- trimws(lines[[i]])
    object <- sub("^`?([^` ]+)`? *<-.*", "\\1", target)
    is_package <- startsWith(target, "\"_PACKAGE\"")
    blocks[[length(blocks) + 1]] <- list(
      text = text,
      object = if (target == "NULL" || is_package) NULL else object,
      package = is_package
    )
  }
  blocks
}

split_tags <- function(text) {
  tags <- list()
  current <- "description"
  buffer <- character()
  flush <- function() {
    tags[[length(tags) + 1]] <<- list(tag = current, text = buffer)
  }
  for (line in text) {
    if (grepl("^@[a-zA-Z]+", line)) {
      flush()
      current <- sub("^@([a-zA-Z]+).*", "\\1", line)
      rest <- sub("^@[a-zA-Z]+ ?", "", line)
      buffer <- if (nzchar(rest)) rest else character()
    } else {
      buffer <- c(buffer, line)
    }
  }
  flush()
  tags
}

paragraphs <- function(lines) {
  groups <- split(lines, cumsum(!nzchar(lines)))
  text <- vapply(groups, function(g) paste(g[nzchar(g)], collapse = "\n"), "")
  text[nzchar(text)]
}

usage_line <- function(name, env) {
  fn <- get(name, envir = env)
  args <- formals(fn)
  arg_text <- vapply(names(args), function(a) {
    if (identical(args[[a]], quote(expr = ))) {
      return(a)
    }
    paste(a, "=", paste(deparse(args[[a]]), collapse = ""))
  }, "")
  arg_text <- paste(arg_text, collapse = ", ")
  s3 <- regmatches(name, regexec("^(.+)[.]mlx_array$", name))[[1]]
  if (length(s3) == 2) {
    generic <- s3[[2]]
    if (endsWith(generic, "<-")) {
      base_args <- paste(setdiff(names(args), "value"), collapse = ", ")
      return(sprintf("\\method{%s}{mlx_array}(%s) <- value", sub("<-$", "", generic), base_args))
    }
    if (generic == "[") {
      return("\\method{[}{mlx_array}(x, ..., drop = TRUE)")
    }
    return(sprintf("\\method{%s}{mlx_array}(%s)", generic, arg_text))
  }
  if (name == "%*%") {
    return("x \\%*\\% y")
  }
  sprintf("%s(%s)", name, arg_text)
}

env <- new.env()
for (path in r_files) sys.source(path, envir = env, keep.source = FALSE)

topics <- list()
for (path in r_files) {
  for (block in parse_blocks(path)) {
    tags <- split_tags(block$text)
    tag_names <- vapply(tags, `[[`, "", "tag")
    get_tag <- function(tag) unlist(lapply(tags[tag_names == tag], `[[`, "text"))
    if (!is.null(block$object) && !"export" %in% tag_names) {
      next
    }
    topic <- get_tag("rdname")
    topic <- if (length(topic)) topic[[1]] else get_tag("name")
    if (length(topic) == 0) topic <- if (block$package) "Rmlx-package" else block$object
    entry <- topics[[topic]] %||% list(aliases = character(), usage = character(), tags = NULL)
    if (!is.null(block$object)) {
      entry$aliases <- c(entry$aliases, block$object)
      entry$usage <- c(entry$usage, usage_line(block$object, env))
    }
    if (length(get_tag("name"))) entry$aliases <- c(get_tag("name")[[1]], entry$aliases)
    if (is.null(entry$tags) && length(get_tag("rdname")) == 0) {
      entry$tags <- tags
    } else {
      entry$extra_params <- c(entry$extra_params, tags[tag_names == "param"])
    }
    entry$package <- isTRUE(entry$package) || block$package
    topics[[topic]] <- entry
  }
}

dir.create("man", showWarnings = FALSE)
unlink(list.files("man", pattern = "[.]Rd$", full.names = TRUE))
for (topic in names(topics)) {
  entry <- topics[[topic]]
  tags <- entry$tags
  tag_names <- vapply(tags, `[[`, "", "tag")
  description <- paragraphs(tags[[1]]$text)
  # A block with only @export (an S3 method such as print.mlx_module) has no
  # help topic of its own.
  if (length(description) == 0) next
  title <- description[[1]]
  body <- description[-1]
  out <- c(
    "% Generated by tools/make-rd.R from the roxygen comments in R/: do not edit by hand.",
    sprintf("\\name{%s}", topic)
  )
  aliases <- unique(c(topic, entry$aliases, if (entry$package) "Rmlx"))
  out <- c(out, sprintf("\\alias{%s}", escape_rd(aliases)))
  out <- c(out, sprintf("\\title{%s}", markdown_to_rd(title)))
  if (length(entry$usage)) {
    out <- c(out, "\\usage{", entry$usage, "}")
  }
  params <- c(tags[tag_names == "param"], entry$extra_params)
  if (length(params)) {
    out <- c(out, "\\arguments{")
    for (p in params) {
      text <- paste(p$text, collapse = "\n")
      name <- sub(" .*", "", text)
      value <- sub("^[^ ]+ ", "", text)
      out <- c(out, sprintf("\\item{%s}{%s}", name, markdown_to_rd(value)))
    }
    out <- c(out, "}")
  }
  out <- c(out, "\\description{", paste(markdown_to_rd(if (length(body)) body[[1]] else title)), "}")
  if (length(body) > 1) {
    out <- c(out, "\\details{", paste(markdown_to_rd(body[-1]), collapse = "\n\n"), "}")
  }
  returns <- tags[tag_names == "return"]
  if (length(returns)) {
    out <- c(out, "\\value{", markdown_to_rd(paste(returns[[1]]$text, collapse = "\n")), "}")
  }
  for (section in tags[tag_names == "section"]) {
    heading <- sub(":$", "", section$text[[1]])
    out <- c(out, sprintf("\\section{%s}{", heading),
      paste(markdown_to_rd(paragraphs(section$text[-1])), collapse = "\n\n"), "}")
  }
  examples <- tags[tag_names == "examples"]
  if (length(examples)) {
    out <- c(out, "\\examples{", escape_rd(examples[[1]]$text), "}")
  }
  keywords <- unlist(lapply(tags[tag_names == "keywords"], `[[`, "text"))
  if (length(keywords)) out <- c(out, sprintf("\\keyword{%s}", keywords))
  writeLines(out, file.path("man", paste0(topic, ".Rd")))
}
cat("wrote", length(topics), "Rd files\n")
