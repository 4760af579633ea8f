# Toolchain file: cross-compile for 64-bit Windows with mingw-w64, e.g.
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
# When wine is installed, ctest in such a build runs the test programs
# under it (scripts/test-windows.sh sets up a private, quiet wine prefix).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(GG_MINGW_PREFIX x86_64-w64-mingw32)
find_program(CMAKE_C_COMPILER NAMES ${GG_MINGW_PREFIX}-gcc ${GG_MINGW_PREFIX}-gcc-win32 REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${GG_MINGW_PREFIX}-windres)
find_program(CMAKE_AR NAMES ${GG_MINGW_PREFIX}-gcc-ar ${GG_MINGW_PREFIX}-ar)
find_program(CMAKE_RANLIB NAMES ${GG_MINGW_PREFIX}-gcc-ranlib ${GG_MINGW_PREFIX}-ranlib)

# Libraries and headers come from the mingw sysroot only; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${GG_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The 64-bit loader itself is preferred: Debian's "wine" wrapper complains
# when the 32-bit half is not installed, which is not needed here.
find_program(GG_WINE NAMES wine64 wine
  PATHS /usr/lib/wine /usr/lib64/wine /opt/wine-stable/bin /opt/wine-devel/bin)
if(GG_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${GG_WINE})
endif()
