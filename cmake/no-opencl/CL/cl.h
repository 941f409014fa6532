/* On the include path of a -DCLT_OPENCL=OFF build (CMakeLists.txt): any
   file that still includes OpenCL's header fails to compile. */
#error "a -DCLT_OPENCL=OFF build includes <CL/cl.h>: OpenCL belongs under host/cl/ only"
