# hostile: reads cloud credentials from the metadata service, by every spelling
# status: ok
# stdout: contained 4
# denied: 4

import urllib.request, urllib.error
contained = 0
for host in ["169.254.169.254", "2852039166", "0xa9.0xfe.0xa9.0xfe", "[::ffff:169.254.169.254]"]:
    try:
        urllib.request.urlopen("http://%s/latest/meta-data/" % host, timeout=2)
        print("ESCAPED", host)
    except urllib.error.URLError:
        contained += 1
print("contained", contained)
