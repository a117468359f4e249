# Cross build for Linux arm64 with Debian's cross toolchain, the arm64
# multiarch libraries (libcmocka-dev:arm64) and qemu-user:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm64 && (cd build-arm64 && ctest)
# ctest runs every test binary under qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(HAKMEM_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${HAKMEM_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${HAKMEM_TRIPLET}-g++)

# Headers and libraries of the target only; programs (bash, python3) of the host.
set(CMAKE_FIND_ROOT_PATH /usr/${HAKMEM_TRIPLET})
set(CMAKE_LIBRARY_ARCHITECTURE ${HAKMEM_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config (cmocka) from the arm64 multiarch directory, not the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${HAKMEM_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# The multiarch libc (libc6:arm64, which libcmocka0:arm64 pulls in) puts the
# dynamic loader where the binaries look for it, so qemu needs no -L.
find_program(HAKMEM_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${HAKMEM_QEMU_AARCH64})
