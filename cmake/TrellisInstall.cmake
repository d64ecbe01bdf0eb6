# Install rules, the exported CMake package (find_package(trellis)) and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS trellis EXPORT trellisTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS trellis-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/trellis DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT trellisTargets NAMESPACE trellis::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trellis)

configure_package_config_file(cmake/trellisConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/trellisConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trellis)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/trellisConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/trellisConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/trellisConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trellis)

file(RELATIVE_PATH TRELLIS_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(cmake/trellis.pc.in ${CMAKE_CURRENT_BINARY_DIR}/trellis.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/trellis.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
