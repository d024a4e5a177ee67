-- osgs OpenStreetMap style for osm2pgsql's flex output (osm2pgsql 1.8).
--
-- Tables (all in the schema OSGS_OSM_SCHEMA, default public; geometries in
-- EPSG:OSGS_OSM_SRID, 3857 or 4326, default 3857). Every table has osm_id
-- (ways and nodes positive, relations negative for areas), name and the
-- object's other tags as jsonb, and a GiST index on geom.
--   roads       highway=* ways                            LineString
--   railways    railway=rail|light_rail|subway|tram|...    LineString
--   waterways   waterway=river|stream|canal|drain|ditch    LineString
--   buildings   building=* ways and multipolygons          MultiPolygon
--   landuse     landuse=*, natural=wood|scrub|..., leisure=park|...  MultiPolygon
--   water       natural=water, waterway=riverbank|dock, landuse=reservoir|basin  MultiPolygon
--   boundaries  boundary=administrative relations, with admin_level  MultiPolygon
--   places      place=* nodes, with population             Point
--   pois        amenity, shop, tourism, leisure, historic, office, craft,
--               healthcare, sport on nodes, and at the centroid of areas  Point
local schema = os.getenv('OSGS_OSM_SCHEMA') or 'public'
local srid = tonumber(os.getenv('OSGS_OSM_SRID') or '3857')

local tables = {}

local function define(name, ids, geomtype, columns)
    local cols = { { column = 'name', type = 'text' } }
    for _, c in ipairs(columns) do cols[#cols + 1] = c end
    cols[#cols + 1] = { column = 'tags', type = 'jsonb' }
    cols[#cols + 1] = { column = 'geom', type = geomtype, projection = srid, not_null = true }
    tables[name] = osm2pgsql.define_table({ name = name, schema = schema, ids = ids, columns = cols })
end

define('roads', { type = 'way', id_column = 'osm_id' }, 'linestring', {
    { column = 'highway', type = 'text', not_null = true },
    { column = 'ref', type = 'text' },
    { column = 'oneway', type = 'text' },
    { column = 'maxspeed', type = 'text' },
    { column = 'layer', type = 'int' },
})
define('railways', { type = 'way', id_column = 'osm_id' }, 'linestring', {
    { column = 'railway', type = 'text', not_null = true },
    { column = 'usage', type = 'text' },
    { column = 'layer', type = 'int' },
})
define('waterways', { type = 'way', id_column = 'osm_id' }, 'linestring', {
    { column = 'waterway', type = 'text', not_null = true },
})
define('buildings', { type = 'area', id_column = 'osm_id' }, 'multipolygon', {
    { column = 'building', type = 'text', not_null = true },
    { column = 'levels', type = 'int' },
    { column = 'height', type = 'real' },
})
define('landuse', { type = 'area', id_column = 'osm_id' }, 'multipolygon', {
    { column = 'class', type = 'text', not_null = true },
    { column = 'type', type = 'text', not_null = true },
})
define('water', { type = 'area', id_column = 'osm_id' }, 'multipolygon', {
    { column = 'type', type = 'text', not_null = true },
})
define('boundaries', { type = 'relation', id_column = 'osm_id' }, 'multipolygon', {
    { column = 'admin_level', type = 'int', not_null = true },
})
define('places', { type = 'node', id_column = 'osm_id' }, 'point', {
    { column = 'place', type = 'text', not_null = true },
    { column = 'population', type = 'bigint' },
})
define('pois', { type = 'any', id_column = 'osm_id', type_column = 'osm_type' }, 'point', {
    { column = 'class', type = 'text', not_null = true },
    { column = 'type', type = 'text', not_null = true },
})

local railway_values = { rail = true, light_rail = true, subway = true, tram = true, narrow_gauge = true,
    monorail = true, funicular = true, preserved = true, disused = true, abandoned = true }
local waterway_values = { river = true, stream = true, canal = true, drain = true, ditch = true }
local landuse_natural = { wood = true, scrub = true, grassland = true, heath = true, wetland = true,
    sand = true, beach = true, bare_rock = true, scree = true, glacier = true }
local landuse_leisure = { park = true, garden = true, golf_course = true, pitch = true, playground = true,
    nature_reserve = true, recreation_ground = true, common = true }
local poi_keys = { 'amenity', 'shop', 'tourism', 'leisure', 'historic', 'office', 'craft', 'healthcare', 'sport' }

local function int(v)
    if v == nil then return nil end
    local n = tonumber((v:gsub('[^0-9%-].*$', '')))
    if n == nil or n ~= n or n > 2147483647 or n < -2147483648 then return nil end
    return math.floor(n)
end

local function real(v)
    if v == nil then return nil end
    return tonumber((v:gsub('%s*m$', '')))
end

local function poi(tags)
    for _, k in ipairs(poi_keys) do
        local v = tags[k]
        if v and v ~= 'no' then
            -- leisure areas that are land use (parks) are not POIs.
            if not (k == 'leisure' and landuse_leisure[v]) then return k, v end
        end
    end
    return nil
end

-- area_rows inserts what an area (closed way or multipolygon relation) is.
local function area_rows(object, geom, centroid)
    local t = object.tags
    if t.building and t.building ~= 'no' then
        tables.buildings:insert({ name = t.name, building = t.building, levels = int(t['building:levels']),
            height = real(t.height), tags = t, geom = geom })
    end
    if t.natural == 'water' or t.waterway == 'riverbank' or t.waterway == 'dock'
        or t.landuse == 'reservoir' or t.landuse == 'basin' then
        tables.water:insert({ name = t.name, type = t.water or t.natural or t.waterway or t.landuse, tags = t, geom = geom })
    elseif t.landuse then
        tables.landuse:insert({ name = t.name, class = 'landuse', type = t.landuse, tags = t, geom = geom })
    elseif t.natural and landuse_natural[t.natural] then
        tables.landuse:insert({ name = t.name, class = 'natural', type = t.natural, tags = t, geom = geom })
    elseif t.leisure and landuse_leisure[t.leisure] then
        tables.landuse:insert({ name = t.name, class = 'leisure', type = t.leisure, tags = t, geom = geom })
    end
    local k, v = poi(t)
    if k then
        tables.pois:insert({ name = t.name, class = k, type = v, tags = t, geom = centroid })
    end
end

function osm2pgsql.process_node(object)
    local t = object.tags
    if t.place then
        tables.places:insert({ name = t.name, place = t.place, population = int(t.population), tags = t,
            geom = object:as_point() })
    end
    local k, v = poi(t)
    if k then
        tables.pois:insert({ name = t.name, class = k, type = v, tags = t, geom = object:as_point() })
    end
end

function osm2pgsql.process_way(object)
    local t = object.tags
    if t.highway and t.area ~= 'yes' then
        tables.roads:insert({ name = t.name, highway = t.highway, ref = t.ref, oneway = t.oneway,
            maxspeed = t.maxspeed, layer = int(t.layer), tags = t, geom = object:as_linestring() })
    end
    if t.railway and railway_values[t.railway] then
        tables.railways:insert({ name = t.name, railway = t.railway, usage = t.usage, layer = int(t.layer),
            tags = t, geom = object:as_linestring() })
    end
    if t.waterway and waterway_values[t.waterway] then
        tables.waterways:insert({ name = t.name, waterway = t.waterway, tags = t, geom = object:as_linestring() })
    end
    if object.is_closed and t.highway == nil or (object.is_closed and t.area == 'yes') then
        local g = object:as_polygon()
        area_rows(object, g, g:centroid())
    end
end

function osm2pgsql.process_relation(object)
    local t = object.tags
    if t.type == 'multipolygon' then
        local g = object:as_multipolygon()
        area_rows(object, g, g:centroid())
    elseif t.type == 'boundary' and t.boundary == 'administrative' and int(t.admin_level) then
        tables.boundaries:insert({ name = t.name, admin_level = int(t.admin_level), tags = t,
            geom = object:as_multipolygon() })
    end
end
