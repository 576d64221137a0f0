# audit trail: librelp for the RELP sink, pthreads for the forwarders
VIGILD_EXTRA_LIBS += -lrelp -lpthread
