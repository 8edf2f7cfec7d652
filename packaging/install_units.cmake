# Writes the systemd units at install time (install(SCRIPT) from
# packaging/CMakeLists.txt), so that their paths follow the prefix actually
# installed to: `cmake --install --prefix P` gives P/bin and P/etc/convsearch,
# the Debian package (prefix /usr) /usr/bin and /etc/convsearch.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(CS_CONFDIR /etc/convsearch)
else()
  set(CS_CONFDIR ${CMAKE_INSTALL_PREFIX}/etc/convsearch)
endif()
set(CS_BINDIR ${CMAKE_INSTALL_PREFIX}/${CS_BINDIR_REL})
set(CS_DOCDIR ${CMAKE_INSTALL_PREFIX}/${CS_DOCDIR_REL})
set(unitdir "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
foreach(unit convsearch-indexer.service convsearch-server.service)
  message(STATUS "Installing: ${unitdir}/${unit}")
  configure_file(${CS_UNIT_SOURCES}/${unit}.in ${unitdir}/${unit} @ONLY)
endforeach()
