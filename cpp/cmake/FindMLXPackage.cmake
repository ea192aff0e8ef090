# rmlx_find_mlx() finds MLX's C++ package and defines the imported target
# `mlx`. It looks, in order, at:
#   1. MLX_DIR (a CMake variable or environment variable): a directory with
#      MLXConfig.cmake, or an install prefix holding share/cmake/MLX;
#   2. an installed CMake package (Homebrew, a source install);
#   3. the `mlx` Python package of the interpreter in Python3_EXECUTABLE, the
#      PYTHON environment variable, the project's .venv, or python3.
set(_RMLX_FIND_MLX_DIR "${CMAKE_CURRENT_LIST_DIR}")

macro(rmlx_find_mlx)
  if(NOT TARGET mlx)
    set(_rmlx_mlx_hints "")
    foreach(_dir "${MLX_DIR}" "$ENV{MLX_DIR}")
      if(_dir)
        list(APPEND _rmlx_mlx_hints "${_dir}" "${_dir}/share/cmake/MLX"
          "${_dir}/lib/cmake/MLX")
      endif()
    endforeach()
    if(_rmlx_mlx_hints)
      find_package(MLX CONFIG QUIET NO_DEFAULT_PATH PATHS ${_rmlx_mlx_hints})
    endif()
    if(NOT MLX_FOUND)
      find_package(MLX CONFIG QUIET)
    endif()
    if(NOT MLX_FOUND)
      set(_rmlx_pythons "${Python3_EXECUTABLE}" "$ENV{PYTHON}")
      get_filename_component(_rmlx_root "${_RMLX_FIND_MLX_DIR}/../.." ABSOLUTE)
      list(APPEND _rmlx_pythons "${_rmlx_root}/.venv/bin/python" python3)
      foreach(_py ${_rmlx_pythons})
        if(_py AND NOT MLX_FOUND)
          execute_process(
            COMMAND "${_py}" -c
              "import mlx.core, os; print(os.path.dirname(mlx.core.__file__))"
            OUTPUT_VARIABLE _rmlx_mlx_py_dir
            OUTPUT_STRIP_TRAILING_WHITESPACE
            RESULT_VARIABLE _rmlx_py_result ERROR_QUIET)
          if(_rmlx_py_result EQUAL 0 AND EXISTS "${_rmlx_mlx_py_dir}/share/cmake/MLX")
            find_package(MLX CONFIG QUIET NO_DEFAULT_PATH
              PATHS "${_rmlx_mlx_py_dir}/share/cmake/MLX")
          endif()
        endif()
      endforeach()
    endif()
    if(NOT MLX_FOUND)
      message(FATAL_ERROR
        "MLX was not found. Install it with one of:\n"
        "  python3 -m venv .venv && .venv/bin/pip install 'mlx[cpu]==0.32.4'\n"
        "  brew install mlx   (macOS)\n"
        "or set MLX_DIR to the directory holding MLXConfig.cmake.")
    endif()
    if(MLX_VERSION AND NOT MLX_VERSION VERSION_EQUAL 0.32.4)
      message(WARNING "rmlx is tested with MLX 0.32.4; found ${MLX_VERSION}")
    endif()
    message(STATUS "rmlx: MLX ${MLX_VERSION} from ${MLX_DIR}")
  endif()
endmacro()
