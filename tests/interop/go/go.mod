module apnslab.example/interop

go 1.19
