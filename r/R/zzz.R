# Reads inst/mlx/config, written by configure, as a named list of strings.
installed_config <- function(libname = dirname(getNamespaceInfo("Rmlx", "path")),
                             pkgname = "Rmlx") {
  path <- file.path(libname, pkgname, "mlx", "config")
  if (!file.exists(path)) {
    return(list())
  }
  lines <- readLines(path, warn = FALSE)
  keys <- sub("=.*", "", lines)
  values <- sub("^[^=]*=", "", lines)
  stats::setNames(as.list(values), keys)
}

# The package DLL is loaded here rather than by useDynLib() in NAMESPACE:
# OpenBLAS must enter the global symbol scope first, so that libmlx.so, loaded
# with Rmlx.so, binds OpenBLAS's cblas_sgemm instead of the reference BLAS
# next to it.
.onLoad <- function(libname, pkgname) {
  # MLX reads this once, at its first evaluation: the graph is walked
  # breadth first up to this many arrays wide. MLX's default of 20 makes
  # the parts of a split batch (mlx_train_step(threads =)) run one after
  # the other; 100 lets them run side by side.
  if (!nzchar(Sys.getenv("MLX_BFS_MAX_WIDTH"))) {
    Sys.setenv(MLX_BFS_MAX_WIDTH = "100")
  }
  blas <- installed_config(libname, pkgname)[["blas"]]
  if (!is.null(blas) && nzchar(blas) && file.exists(blas)) {
    dyn.load(blas, local = FALSE, now = TRUE)
  }
  dll <- library.dynam(pkgname, pkgname, libname)
  # The same as useDynLib(Rmlx, .registration = TRUE): bind each registered
  # routine to the name that R/cpp11.R calls.
  namespace <- environment(sys.function())
  routines <- getDLLRegisteredRoutines(dll)[[".Call"]]
  for (name in names(routines)) {
    assign(name, routines[[name]], envir = namespace)
  }
  # MLX allocates every CPU array with malloc. Without reuse, each array
  # above glibc's mmap threshold is mapped afresh and faults in page by page;
  # RMLX_MALLOC_REUSE=0 keeps glibc's defaults.
  if (!identical(Sys.getenv("RMLX_MALLOC_REUSE"), "0")) {
    mlx_enable_malloc_reuse_(1024)
  }
  if (getRversion() >= "4.4.0") {
    registerS3method("matrixOps", "mlx_array", matrixOps.mlx_array,
      envir = namespace
    )
  }
}

.onUnload <- function(libpath) {
  library.dynam.unload("Rmlx", libpath)
}
