// The translation unit that owns the test programs' shared precompiled header (tests/CMakeLists.txt).
