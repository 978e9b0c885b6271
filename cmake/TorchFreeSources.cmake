# Which sources reach LibTorch. The precompiled header (<torch/torch.h>, core/pch.h) pays off only
# in a source that includes torch anyway: there it saves about 7 s of parsing (checkpoint.cpp: 38 s
# without it, 32 s with it). A source that never includes torch pays for it instead: GCC
# instantiates and optimises what the header leaves pending in every translation unit that loads
# it, so folder_lock.cpp takes 28 s with the header and 8 s without (measured 2026-12-07, -O3,
# docs/reliability.md "A CI that stays fast"). fratmae_skip_pch_where_torch_free() therefore
# compiles every source of a target that reaches no torch header, directly or through the
# project's own headers, without the precompiled header.
#
# The scan reads #include lines at configure time; an include added or removed later takes effect
# at the next configure. Either way the build stays correct: a source without the header includes
# what it uses itself (the build checks that), and one with it simply compiles slower.

set(FRATMAE_INCLUDE_ROOTS ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/bench)

# result: TRUE when `path` includes a torch, ATen or c10 header, itself or through a project header
# found beside it or under FRATMAE_INCLUDE_ROOTS. Includes under #if are counted (conservative).
function(_fratmae_reaches_torch path result)
  string(MD5 key "${path}")
  get_property(known GLOBAL PROPERTY _fratmae_torch_${key} SET)
  if(known)
    get_property(value GLOBAL PROPERTY _fratmae_torch_${key})
    set(${result} ${value} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY _fratmae_torch_${key} FALSE)  # while scanning: a cycle adds nothing
  file(STRINGS "${path}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  get_filename_component(dir "${path}" DIRECTORY)
  set(value FALSE)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" inc "${line}")
    if(inc MATCHES "^(torch|ATen|c10)/")
      set(value TRUE)
      break()
    endif()
    foreach(root IN ITEMS "${dir}" ${FRATMAE_INCLUDE_ROOTS})
      if(EXISTS "${root}/${inc}" AND NOT IS_DIRECTORY "${root}/${inc}")
        _fratmae_reaches_torch("${root}/${inc}" sub)
        if(sub)
          set(value TRUE)
        endif()
        break()
      endif()
    endforeach()
    if(value)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY _fratmae_torch_${key} ${value})
  set(${result} ${value} PARENT_SCOPE)
endfunction()

# Marks the torch-free C++ sources of `target` SKIP_PRECOMPILE_HEADERS (in the calling directory,
# where the target is defined) and appends them to the global list FRATMAE_TORCH_FREE_SOURCES,
# whose length configure prints (a source in two targets counts twice).
function(fratmae_skip_pch_where_torch_free target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(free "")
  foreach(src IN LISTS sources)
    if(NOT src MATCHES "\\.cpp$")
      continue()
    endif()
    get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${source_dir}")
    _fratmae_reaches_torch("${abs}" reaches)
    if(NOT reaches)
      list(APPEND free "${abs}")
    endif()
  endforeach()
  if(free)
    set_source_files_properties(${free} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    set_property(GLOBAL APPEND PROPERTY FRATMAE_TORCH_FREE_SOURCES ${free})
  endif()
endfunction()
