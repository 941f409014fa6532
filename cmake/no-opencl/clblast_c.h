/* On the include path of a -DCLT_OPENCL=OFF build (CMakeLists.txt): any
   file that still includes OpenCL's header fails to compile. */
#error "a -DCLT_OPENCL=OFF build includes <clblast_c.h>: CLBlast belongs under host/cl/ only"
